/**
 * @file
 * libscoresde: score-based generative modelling through stochastic
 * differential equations. The umbrella header: the only one users include.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#ifndef SCORESDE_H
#define SCORESDE_H

#include "scoresde/version.h"
#include "scoresde/common.h"
#include "scoresde/rng.h"
#include "scoresde/sde.h"
#include "scoresde/model.h"
#include "scoresde/model_io.h"
#include "scoresde/loss.h"
#include "scoresde/train.h"
#include "scoresde/sampler.h"
#include "scoresde/bound.h"

#endif /* SCORESDE_H */
