/* Guide, "Threads": four threads evaluate one shared model, each on its own
 * slice of the batch, and get the same bits as a single call.
 * Exits 0 when every check holds. */
#include <scoresde.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define CHECK(cond)                                                     \
    do {                                                                \
        if (!(cond)) {                                                  \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,      \
                    __LINE__, #cond);                                   \
            return 1;                                                   \
        }                                                               \
    } while (0)

enum { THREADS = 4, PER = 64, N = THREADS * PER, D = 2 };

struct job {
    const scoresde_model *model; /* shared, read-only */
    const double *x, *t;
    double *score;
    int rc;
};

static void *work(void *arg)
{
    struct job *j = arg;
    j->rc = scoresde_model_score(j->model, j->x, j->t, PER, D, j->score);
    return NULL;
}

int main(void)
{
    static double x[N * D], t[N], alone[N * D], together[N * D];
    const double w[2] = {0.5, 0.5}, mu[4] = {-1, -1, 1, 1}, var[4] = {0.1, 0.1, 0.1, 0.1};
    scoresde_sde *sde = NULL;
    scoresde_model *model = NULL;
    CHECK(scoresde_sde_create_default(&sde, SCORESDE_SDE_VP) == SCORESDE_OK);
    CHECK(scoresde_model_create_gmm(&model, sde, 2, D, w, mu, var) == SCORESDE_OK);
    for (int i = 0; i < N; i++)
        t[i] = 0.05 + 0.9 * i / N;
    CHECK(scoresde_model_sample(model, t, N, D, 9, 0, x) == SCORESDE_OK);

    CHECK(scoresde_model_score(model, x, t, N, D, alone) == SCORESDE_OK);

    pthread_t th[THREADS];
    struct job jobs[THREADS];
    for (int k = 0; k < THREADS; k++) {
        jobs[k] = (struct job){model, x + k * PER * D, t + k * PER, together + k * PER * D, -1};
        CHECK(pthread_create(&th[k], NULL, work, &jobs[k]) == 0);
    }
    for (int k = 0; k < THREADS; k++) {
        CHECK(pthread_join(th[k], NULL) == 0);
        CHECK(jobs[k].rc == SCORESDE_OK);
    }
    CHECK(memcmp(alone, together, sizeof alone) == 0);
    printf("%d threads, %d samples: bit-identical to one call\n", THREADS, N);

    scoresde_model_free(model);
    scoresde_sde_free(sde);
    return 0;
}
