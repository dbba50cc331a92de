/*
 * mpi-train: data-parallel training over MPI.
 *
 * Every rank holds the same model (same seed) and the same data set. Step k
 * takes the global batch of B = P b rows starting at row (k B) mod m; rank r
 * computes the loss gradient of its b rows with
 *     scoresde_trainer_backward(..., first_sample = k B + r b, ...)
 * so its noise draws are exactly those the rows get in a single-process run
 * (loss.h: sample i draws from stream first_sample + i). The gradients are
 * summed with MPI_Allreduce and divided by P, which is the gradient of the
 * global batch's mean loss (the shards are equal), put back with
 * scoresde_trainer_set_grad and applied with scoresde_trainer_apply on every
 * rank: the replicas stay identical.
 *
 * Rank 0 then trains a second model alone on the same global batches and
 * compares the parameters. They agree to rounding (the sums are grouped per
 * shard, so the last bits may differ); the program exits 1 if the largest
 * difference exceeds 1e-12 times the parameters' scale, 2 on a library or MPI
 * error.
 *
 * Run: mpirun -n 2 scoresde-mpi-train [steps]
 *
 * Only the public API is used: copy from it freely.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <mpi.h>
#include <scoresde.h>

enum { D = 2, M_DATA = 4096, B_LOCAL = 64 };

static int fail(int rank, const char *what, int rc)
{
    fprintf(stderr, "mpi-train[%d]: %s failed: %s: %s\n", rank, what, scoresde_strerror(rc),
            scoresde_last_error());
    return 2;
}

/* A fixed 2-D mixture data set, the same on every rank: point i from Philox
 * stream i under seed 5 (component from a uniform, noise from normals). */
static int make_data(double *x)
{
    for (size_t i = 0; i < M_DATA; i++) {
        double u, z[2];
        int rc = scoresde_rng_uniform(5, i, SCORESDE_RNG_OFFSET(SCORESDE_RNG_MODEL, 0), 1, &u);
        if (rc == SCORESDE_OK)
            rc = scoresde_rng_normal(5, i, SCORESDE_RNG_OFFSET(SCORESDE_RNG_MODEL, 1), 2, z);
        if (rc != SCORESDE_OK)
            return rc;
        double a = 2.0 * 3.14159265358979323846 * floor(4.0 * u) / 4.0;
        x[i * D] = 1.5 * cos(a) + 0.2 * z[0];
        x[i * D + 1] = 1.5 * sin(a) + 0.2 * z[1];
    }
    return SCORESDE_OK;
}

/* A model, loss and trainer with the settings every rank shares. */
static int setup(const scoresde_sde *sde, scoresde_model **net, scoresde_loss **loss,
                 scoresde_trainer **tr)
{
    scoresde_mlp_options o;
    int rc = scoresde_model_mlp_options_init(&o, sizeof o);
    if (rc != SCORESDE_OK)
        return rc;
    o.n_hidden = 2;
    static const size_t widths[2] = {32, 32};
    o.widths = widths;
    o.seed = 3;
    if ((rc = scoresde_model_create_mlp(net, sde, D, &o)) != SCORESDE_OK)
        return rc;
    if ((rc = scoresde_loss_create(loss, SCORESDE_LOSS_DSM)) != SCORESDE_OK)
        return rc;
    if ((rc = scoresde_trainer_create(tr, *net, *loss)) != SCORESDE_OK)
        return rc;
    if ((rc = scoresde_trainer_set_double(*tr, SCORESDE_TRAIN_LR, 1e-3)) != SCORESDE_OK)
        return rc;
    return scoresde_trainer_set_int(*tr, SCORESDE_TRAIN_WARMUP, 10);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank = 0, P = 1, status = 0, rc;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &P);
    long steps = argc > 1 ? strtol(argv[1], NULL, 10) : 100;
    if (steps < 1)
        steps = 1;
    const size_t B = (size_t)P * B_LOCAL;

    scoresde_sde *sde = NULL;
    scoresde_model *net = NULL, *ref_net = NULL;
    scoresde_loss *loss = NULL, *ref_loss = NULL;
    scoresde_trainer *tr = NULL, *ref = NULL;
    double *data = malloc(M_DATA * D * sizeof *data), *batch = malloc(B * D * sizeof *batch);
    double *grad = NULL, *sum = NULL, *theta = NULL, *theta_ref = NULL;
    if (data == NULL || batch == NULL) {
        fprintf(stderr, "mpi-train[%d]: out of memory\n", rank);
        status = 2;
        goto done;
    }
    if ((rc = make_data(data)) != SCORESDE_OK) {
        status = fail(rank, "making the data", rc);
        goto done;
    }
    if ((rc = scoresde_sde_create_default(&sde, SCORESDE_SDE_VP)) != SCORESDE_OK ||
        (rc = setup(sde, &net, &loss, &tr)) != SCORESDE_OK) {
        status = fail(rank, "setting up", rc);
        goto done;
    }
    const size_t np = scoresde_trainer_num_params(tr);
    grad = malloc(np * sizeof *grad);
    sum = malloc(np * sizeof *sum);
    theta = malloc(np * sizeof *theta);
    theta_ref = malloc(np * sizeof *theta_ref);
    if (!grad || !sum || !theta || !theta_ref) {
        fprintf(stderr, "mpi-train[%d]: out of memory\n", rank);
        status = 2;
        goto done;
    }

    /* The global batch of step k: B consecutive rows from (k B) mod m, wrapping. */
    for (long k = 0; k < steps; k++) {
        for (size_t i = 0; i < B; i++)
            for (size_t j = 0; j < D; j++)
                batch[i * D + j] = data[(((size_t)k * B + i) % M_DATA) * D + j];
        double l;
        const double *mine = batch + (size_t)rank * B_LOCAL * D;
        rc = scoresde_trainer_backward(tr, mine, B_LOCAL, D,
                                       (uint64_t)k * B + (uint64_t)rank * B_LOCAL, &l);
        if (rc == SCORESDE_OK)
            rc = scoresde_trainer_get_grad(tr, grad, np);
        if (rc != SCORESDE_OK) {
            status = fail(rank, "the local gradient", rc);
            goto done;
        }
        if (MPI_Allreduce(grad, sum, (int)np, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD) != MPI_SUCCESS) {
            fprintf(stderr, "mpi-train[%d]: MPI_Allreduce failed\n", rank);
            status = 2;
            goto done;
        }
        for (size_t p = 0; p < np; p++)
            sum[p] /= P;
        rc = scoresde_trainer_set_grad(tr, sum, np);
        if (rc == SCORESDE_OK)
            rc = scoresde_trainer_apply(tr, NULL);
        if (rc != SCORESDE_OK) {
            status = fail(rank, "the update", rc);
            goto done;
        }
        double lsum = 0.0;
        MPI_Reduce(&l, &lsum, 1, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
        if (rank == 0 && ((k + 1) % 20 == 0 || k + 1 == steps))
            printf("step %4ld  global batch loss %.6f\n", k + 1, lsum / P);
    }
    if ((rc = scoresde_model_get_params(net, theta, np)) != SCORESDE_OK) {
        status = fail(rank, "reading the parameters", rc);
        goto done;
    }

    /* Rank 0: the same steps in one process on the whole global batch. */
    if (rank == 0) {
        if ((rc = setup(sde, &ref_net, &ref_loss, &ref)) != SCORESDE_OK) {
            status = fail(rank, "setting up the reference", rc);
            goto done;
        }
        for (long k = 0; k < steps; k++) {
            for (size_t i = 0; i < B; i++)
                for (size_t j = 0; j < D; j++)
                    batch[i * D + j] = data[(((size_t)k * B + i) % M_DATA) * D + j];
            rc = scoresde_trainer_backward(ref, batch, B, D, (uint64_t)k * B, NULL);
            if (rc == SCORESDE_OK)
                rc = scoresde_trainer_apply(ref, NULL);
            if (rc != SCORESDE_OK) {
                status = fail(rank, "the reference step", rc);
                goto done;
            }
        }
        if ((rc = scoresde_model_get_params(ref_net, theta_ref, np)) != SCORESDE_OK) {
            status = fail(rank, "reading the reference parameters", rc);
            goto done;
        }
        double diff = 0.0, scale = 0.0, moved = 0.0;
        for (size_t p = 0; p < np; p++) {
            diff = fmax(diff, fabs(theta[p] - theta_ref[p]));
            scale = fmax(scale, fabs(theta_ref[p]));
        }
        /* How far training moved the parameters, so the agreement means something. */
        scoresde_model *init = NULL;
        scoresde_loss *l0 = NULL;
        scoresde_trainer *t0 = NULL;
        if ((rc = setup(sde, &init, &l0, &t0)) == SCORESDE_OK &&
            (rc = scoresde_model_get_params(init, grad, np)) == SCORESDE_OK)
            for (size_t p = 0; p < np; p++)
                moved = fmax(moved, fabs(theta_ref[p] - grad[p]));
        scoresde_trainer_free(t0);
        scoresde_loss_free(l0);
        scoresde_model_free(init);
        if (rc != SCORESDE_OK) {
            status = fail(rank, "the initial parameters", rc);
            goto done;
        }
        printf("%d ranks x %d rows vs one process x %zu rows, %ld steps, %zu parameters\n", P,
               B_LOCAL, B, steps, np);
        printf("largest parameter difference %.3e (parameters up to %.3f, moved up to %.3f "
               "by training)\n",
               diff, scale, moved);
        status = diff <= 1e-12 * scale ? 0 : 1;
        printf("%s\n", status == 0 ? "data-parallel training equals single-process training"
                                   : "DIFFERENT from single-process training");
    }
    MPI_Bcast(&status, 1, MPI_INT, 0, MPI_COMM_WORLD);
done:
    scoresde_trainer_free(ref);
    scoresde_loss_free(ref_loss);
    scoresde_model_free(ref_net);
    scoresde_trainer_free(tr);
    scoresde_loss_free(loss);
    scoresde_model_free(net);
    scoresde_sde_free(sde);
    free(data);
    free(batch);
    free(grad);
    free(sum);
    free(theta);
    free(theta_ref);
    if (status == 2)
        MPI_Abort(MPI_COMM_WORLD, 2);
    MPI_Finalize();
    return status;
}
