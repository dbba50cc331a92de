/*
 * scoresde: the command-line tool of libscoresde. Train a score model on the
 * rows of a table, sample it, score data, encode and decode, describe files
 * and draw pictures, from the shell. The subcommands live in train.c,
 * sample.c (sample, encode, decode), nll.c, info.c and plot.c; help texts here.
 * Exit status: 0 success, 1 a data or library error, 2 bad usage.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>

#include "cli.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *synopsis;
    const char *help;
} command;

static const command commands[] = {
    {"train", cli_train, "train DATA -o MODEL [options]",
     "Fit a score model to the rows of DATA (CSV, TSV, .npy or - for standard input).\n"
     "Each column is standardised (mean 0, standard deviation 1) unless\n"
     "--no-standardize; the transform is stored in MODEL, so sample, nll and encode\n"
     "work in data units.\n"
     "\n"
     "  -o, --output MODEL      the trained model (EMA weights), written atomically\n"
     "      --columns LIST      data columns: names or 1-based indices (default: every\n"
     "                          column not in --cond-columns)\n"
     "      --cond-columns LIST condition columns: a conditional model p(x | c)\n"
     "      --sde NAME          vp (default), subvp, ve, cosine, edm\n"
     "      --loss NAME         dsm (default), dsm-likelihood, ssm, ssm-vr, ddpm (vp), edm\n"
     "      --net NAME          mlp (default) or resmlp (residual, LayerNorm)\n"
     "      --width N           hidden width (default 128)\n"
     "      --depth N           hidden layers (default 3)\n"
     "      --steps N           optimiser steps in all (default 4000)\n"
     "      --batch N           minibatch size (default 256)\n"
     "      --lr X              learning rate (default 2e-3; 100 warm-up steps, clip 1,\n"
     "                          EMA rate 0.999)\n"
     "      --precision P       f64 (default) or f32\n"
     "      --threads N         threads of each network evaluation (default 1)\n"
     "      --seed S            seed of initialisation, minibatches and noise (default 0)\n"
     "      --cond-dropout P    probability of training with the null condition (for\n"
     "                          --guidance; default 0)\n"
     "      --val-fraction F    hold out this fraction of the rows (default 0): their\n"
     "                          loss is shown beside the training loss\n"
     "      --checkpoint FILE   save the training state to FILE every --every steps and\n"
     "                          at the end (atomically)\n"
     "      --every N           steps between checkpoints and progress lines (default\n"
     "                          steps/10)\n"
     "      --resume FILE       continue the run saved in FILE bit-identically (the\n"
     "                          options come from FILE; --steps may extend the run)\n"
     "      --no-standardize    train on the raw values\n"
     "      --quiet             no progress output\n"
     "  and the table options (see 'scoresde help formats').\n"
     "Ctrl-C saves a checkpoint (FILE, or MODEL.ckpt) and the model so far, then exits\n"
     "with status 130.\n"},
    {"sample", cli_sample, "sample MODEL -n N -o OUT [options]",
     "Draw N samples from MODEL, in data units, into OUT (CSV, TSV, .npy or -).\n"
     "\n"
     "  -n, --samples N         number of samples\n"
     "  -o, --output OUT        output table (columns named as the training data)\n"
     "      --sampler NAME      the method, by the library's name (pc, ode, edm,\n"
     "                          dpmpp, ipndm, ddim, dpmpp-sde, restart, ...; '-' or\n"
     "                          '_'); default dpmpp. --method is the same option\n"
     "      --steps N           grid steps (default: the method's; ode 100)\n"
     "      --order K           order of the multistep methods (dpmpp 1..3, default 2;\n"
     "                          ipndm 1..4, default 4; dpmpp-sde 1..3)\n"
     "      --tol X             rtol = atol of adaptive solvers (ode dopri5, dpmpp\n"
     "                          --adaptive)\n"
     "      --solver NAME       ode: euler, heun, rk4, dopri5 (default)\n"
     "      --predictor NAME    pc: reverse-diffusion (default), euler-maruyama,\n"
     "                          ancestral, none\n"
     "      --corrector NAME    pc: langevin (default), annealed, none\n"
     "      --snr X             pc: Langevin signal-to-noise ratio (default 0.16)\n"
     "      --grid NAME         uniform-t, karras, logsnr, power\n"
     "      --churn X           edm: S_churn (default 0)\n"
     "      --adaptive          dpmpp: adaptive step sizes\n"
     "      --unipc             dpmpp: the UniC corrector\n"
     "      --denoise / --no-denoise   final Tweedie step\n"
     "      --cond LIST         one condition for every sample (data units)\n"
     "      --cond-file FILE    one condition per sample (a table of N rows, or 1)\n"
     "      --guidance W        classifier-free guidance weight (needs --cond-dropout\n"
     "                          at training)\n"
     "      --seed S            seed (default 0)\n"
     "      --threads N         sampler threads (default 1)\n"},
    {"nll", cli_nll, "nll MODEL DATA [options]",
     "The negative log-likelihood of the rows of DATA under MODEL, in data units\n"
     "(the transform's log-Jacobian included), through the probability-flow ODE:\n"
     "mean nats per row and bits per dimension, each with its standard error, and\n"
     "the NFE.\n"
     "\n"
     "      --columns LIST      data columns (default: the model's names, else all)\n"
     "      --cond-columns LIST condition columns (default: the model's names)\n"
     "      --bits B            the data are B-bit integers: uniform dequantisation,\n"
     "                          a bound on the discrete -log P in bits per dimension\n"
     "      --hutchinson M      M Rademacher probes per row instead of the exact\n"
     "                          divergence\n"
     "      --tol X             rtol = atol of the ODE (default 1e-5)\n"
     "      --per-row OUT       per-row values (nll, bpd) into a table\n"
     "      --seed S, --threads N\n"},
    {"encode", cli_encode, "encode MODEL DATA -o OUT",
     "Map the rows of DATA to latents x_T through the probability-flow ODE.\n"
     "  -o OUT, --columns, --cond-columns, --cond, --steps, --solver, --tol, --threads\n"},
    {"decode", cli_decode, "decode MODEL LATENTS -o OUT",
     "Map latents back to data (the probability-flow ODE from T to eps).\n"
     "  -o OUT, --cond, --cond-file, --steps, --solver, --tol, --threads\n"},
    {"info", cli_info, "info FILE...",
     "Describe model files, checkpoints and data tables: kind, dimension, condition\n"
     "size, SDE and its parameters, network options, parameter count, training\n"
     "steps, the data transform, the file format version.\n"},
    {"plot", cli_plot, "plot DATA [SAMPLES] -o FIG.svg",
     "Draw DATA (and SAMPLES) as an SVG: a scatter plot for two columns, a\n"
     "pair-plot matrix with marginal histograms for up to 8.\n"
     "  -o FIG.svg, --columns LIST (at most 8), --title TEXT, --max-points N\n"},
};
enum { N_COMMANDS = sizeof commands / sizeof commands[0] };

static const char formats_help[] =
    "Tables: CSV and TSV (by extension .csv, .tsv, .txt, or --format csv|tsv|npy),\n"
    "NumPy .npy (float64 or float32, C or Fortran order, format versions 1-3), and\n"
    "- for standard input or output (CSV). A header row is detected (or --header /\n"
    "--no-header), the delimiter too (or --delimiter C); lines starting with # are\n"
    "comments; header names may be quoted. Outputs keep column names.\n";

int cli_help(FILE *f, const char *name)
{
    if (name == NULL) {
        fprintf(f,
                "usage: scoresde COMMAND [options]\n"
                "Score-based generative models of your tables (libscoresde %s).\n\n",
                scoresde_version_string());
        for (int k = 0; k < N_COMMANDS; k++)
            fprintf(f, "  scoresde %s\n", commands[k].synopsis);
        fprintf(f,
                "  scoresde help COMMAND | formats\n"
                "  scoresde --version\n\n"
                "Exit status: 0 success, 1 a data or library error, 2 bad usage.\n"
                "See scoresde(1).\n");
        return 0;
    }
    if (strcmp(name, "formats") == 0) {
        fputs(formats_help, f);
        return 0;
    }
    for (int k = 0; k < N_COMMANDS; k++)
        if (strcmp(name, commands[k].name) == 0) {
            fprintf(f, "usage: scoresde %s\n%s", commands[k].synopsis, commands[k].help);
            return 0;
        }
    return -1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        cli_help(stderr, NULL);
        return CLI_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--version") == 0 || strcmp(name, "-V") == 0) {
        printf("scoresde %s (libscoresde %s)\n", SCORESDE_VERSION_STRING,
               scoresde_version_string());
        return CLI_OK;
    }
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
        cli_help(stdout, NULL);
        return CLI_OK;
    }
    if (strcmp(name, "help") == 0) {
        if (argc < 3) {
            cli_help(stdout, NULL);
            return CLI_OK;
        }
        if (cli_help(stdout, argv[2]) != 0) {
            fprintf(stderr, "scoresde: no command '%s' (see 'scoresde --help')\n", argv[2]);
            return CLI_USAGE;
        }
        return CLI_OK;
    }
    for (int k = 0; k < N_COMMANDS; k++)
        if (strcmp(name, commands[k].name) == 0) {
            cli_command = name;
            /* The subcommand sees argv[0] = its name, getopt's convention. */
            return commands[k].run(argc - 1, argv + 1);
        }
    fprintf(stderr, "scoresde: no command '%s' (see 'scoresde --help')\n", name);
    return CLI_USAGE;
}
