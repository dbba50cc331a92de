/* Guide, "Errors and memory": status codes, the per-thread message, and the
 * allocator hook used to count allocations and to inject a failure.
 * Exits 0 when every check holds. */
#include <scoresde.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                     \
    do {                                                                \
        if (!(cond)) {                                                  \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,      \
                    __LINE__, #cond);                                   \
            return 1;                                                   \
        }                                                               \
    } while (0)

/* An allocator that counts calls and can be told to fail from call number
 * `fail_at` on. */
struct counting {
    size_t calls;
    size_t fail_at;
};

static void *counting_malloc(size_t size, void *user)
{
    struct counting *c = user;
    if (++c->calls >= c->fail_at)
        return NULL;
    return malloc(size);
}

static void counting_free(void *ptr, void *user)
{
    (void)user;
    free(ptr);
}

int main(void)
{
    /* Install the allocator first, before any object exists. */
    struct counting c = {0, (size_t)-1};
    CHECK(scoresde_set_allocator(counting_malloc, counting_free, &c) == SCORESDE_OK);

    /* A status and the message that goes with it. */
    scoresde_sde *sde = NULL;
    CHECK(scoresde_sde_create_default(&sde, SCORESDE_SDE_OU) == SCORESDE_OK);
    const double x[2] = {0, 0}, t[2] = {0.5, 9.0}; /* the OU SDE ends at T = 8 */
    double f[2];
    int rc = scoresde_sde_drift(sde, x, t, 2, 1, f);
    printf("%d (%s): %s\n", rc, scoresde_strerror(rc), scoresde_last_error());
    CHECK(rc == SCORESDE_EINVAL && strstr(scoresde_last_error(), "t[1]") != NULL);

    /* The allocator cannot change while an object lives. */
    CHECK(scoresde_live_allocations() > 0);
    CHECK(scoresde_set_allocator(NULL, NULL, NULL) == SCORESDE_EBUSY);
    printf("allocations so far: %zu, live: %zu\n", c.calls, scoresde_live_allocations());

    /* Make the next allocation fail: creation reports SCORESDE_ENOMEM and
     * leaves nothing behind. */
    size_t live = scoresde_live_allocations();
    c.fail_at = c.calls + 1;
    scoresde_model *model = NULL;
    const double w[1] = {1}, mu[1] = {0}, var[1] = {1};
    rc = scoresde_model_create_gmm(&model, sde, 1, 1, w, mu, var);
    printf("%s: %s\n", scoresde_strerror(rc), scoresde_last_error());
    CHECK(rc == SCORESDE_ENOMEM && model == NULL);
    CHECK(scoresde_live_allocations() == live);
    c.fail_at = (size_t)-1;

    /* Everything freed: zero live blocks, and the default allocator returns. */
    scoresde_sde_free(sde);
    CHECK(scoresde_live_allocations() == 0);
    CHECK(scoresde_set_allocator(NULL, NULL, NULL) == SCORESDE_OK);
    return 0;
}
