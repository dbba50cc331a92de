/* Guide, "Model files": save a model to a file and to memory, load it back,
 * and see what loading refuses. The file is written in the current directory.
 * Exits 0 when every check holds. */
#include <scoresde.h>
#include <stdio.h>
#include <string.h>

#define CHECK(cond)                                                     \
    do {                                                                \
        if (!(cond)) {                                                  \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,      \
                    __LINE__, #cond);                                   \
            goto done;                                                  \
        }                                                               \
    } while (0)

static int zero_score(const double *x, const double *t, size_t n, size_t D, double *out,
                      void *user)
{
    (void)x, (void)t, (void)user;
    memset(out, 0, n * D * sizeof *out);
    return 0;
}

int main(void)
{
    int ok = 0;
    const char *path = "guide-snippet-model.sde";
    scoresde_sde *sde = NULL;
    scoresde_model *model = NULL, *from_file = NULL, *from_memory = NULL, *hook = NULL;
    scoresde_model *broken = NULL;
    void *bytes = NULL;
    size_t size = 0;
    const double w[1] = {1}, mu[2] = {0.5, -0.5}, var[2] = {0.2, 0.3};

    CHECK(scoresde_sde_create_default(&sde, SCORESDE_SDE_VE) == SCORESDE_OK);
    CHECK(scoresde_model_create_gmm(&model, sde, 1, 2, w, mu, var) == SCORESDE_OK);

    /* To a file (atomically replaced) and back. */
    CHECK(scoresde_model_save(model, path) == SCORESDE_OK);
    CHECK(scoresde_model_load(&from_file, path) == SCORESDE_OK);
    remove(path);

    /* To memory and back; the buffer is released with scoresde_buffer_free. */
    CHECK(scoresde_model_save_buffer(model, &bytes, &size) == SCORESDE_OK);
    printf("a 2-D single-Gaussian model is %zu bytes\n", size);
    CHECK(scoresde_model_load_buffer(&from_memory, bytes, size) == SCORESDE_OK);

    /* A loaded model gives the same bits as the saved one. */
    const double x[2] = {0.1, 0.2}, t[1] = {0.5};
    double s0[2], s1[2], s2[2];
    CHECK(scoresde_model_score(model, x, t, 1, 2, s0) == SCORESDE_OK);
    CHECK(scoresde_model_score(from_file, x, t, 1, 2, s1) == SCORESDE_OK);
    CHECK(scoresde_model_score(from_memory, x, t, 1, 2, s2) == SCORESDE_OK);
    CHECK(memcmp(s0, s1, sizeof s0) == 0 && memcmp(s0, s2, sizeof s0) == 0);

    /* One changed byte is caught by the checksum. */
    ((unsigned char *)bytes)[size / 2] ^= 0x10;
    int rc = scoresde_model_load_buffer(&broken, bytes, size);
    printf("damaged: %s: %s\n", scoresde_strerror(rc), scoresde_last_error());
    CHECK(rc == SCORESDE_ECORRUPT && broken == NULL);
    /* So is a truncated file. */
    rc = scoresde_model_load_buffer(&broken, bytes, size - 1);
    CHECK(rc == SCORESDE_ECORRUPT && broken == NULL);

    /* A model made of the caller's code cannot be saved. */
    CHECK(scoresde_model_create_score_fn(&hook, sde, 2, zero_score, NULL, NULL) ==
          SCORESDE_OK);
    CHECK(scoresde_model_save(hook, path) == SCORESDE_EUNSUPPORTED);
    ok = 1;
done:
    scoresde_buffer_free(bytes);
    scoresde_model_free(hook);
    scoresde_model_free(from_memory);
    scoresde_model_free(from_file);
    scoresde_model_free(model);
    scoresde_sde_free(sde);
    return ok ? 0 : 1;
}
