/**
 * @file scoresde.hpp
 * @brief C++17 RAII wrappers over the C API (header only).
 *
 * The C API unchanged, made exception-safe: each handle is a
 * std::unique_ptr with the library's `_free` function (move-only, freed at
 * scope exit), a failed status becomes a scoresde::Error carrying the status
 * and scoresde_last_error(), and C++ callables serve as hooks whose
 * exceptions are carried across the C library and rethrown. docs/cxx.md
 * shows how to use them.
 *
 * @code
 * scoresde::Sde sde = SCORESDE_CREATE(scoresde_sde_create_vp, 0.1, 20.0);
 * SCORESDE_CHECK(scoresde_sde_marginal(sde.get(), t, 1, &alpha, &sigma, nullptr, nullptr));
 * @endcode
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#ifndef SCORESDE_HPP
#define SCORESDE_HPP

#if !defined(__cplusplus) || __cplusplus < 201703L
#error "scoresde.hpp needs C++17; C and older C++ use scoresde.h"
#endif

#include <scoresde.h>

#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace scoresde {

/** A failed libscoresde call: its status (a negative SCORESDE_E* code) and
 *  the thread's error message at the time of the failure. */
class Error : public std::runtime_error {
public:
    /** @param status the failed call's status; @param function its name (for what()). */
    Error(int status, const char *function)
        : std::runtime_error(std::string(function) + ": " + scoresde_strerror(status) + ": " +
                             scoresde_last_error()),
          status_(status), message_(scoresde_last_error()) {}
    /** The SCORESDE_E* status the call returned. */
    int status() const noexcept { return status_; }
    /** scoresde_last_error() right after the failure. */
    const std::string &message() const noexcept { return message_; }

private:
    int status_;
    std::string message_;
};

/** Throw Error for a negative status; return a non-negative one unchanged. */
inline int check(int status, const char *function) {
    if (status < 0) throw Error(status, function);
    return status;
}

/** Run a C call, throwing scoresde::Error (naming the call) if it fails. */
#define SCORESDE_CHECK(call) ::scoresde::check((call), #call)

/** The `_free` function of each handle type. A new handle type needs one
 *  specialisation here and one `using` line below. */
template <class T>
struct Deleter;
/** @cond */
template <>
struct Deleter<scoresde_sde> {
    void operator()(scoresde_sde *p) const noexcept { scoresde_sde_free(p); }
};
template <>
struct Deleter<scoresde_model> {
    void operator()(scoresde_model *p) const noexcept { scoresde_model_free(p); }
};
template <>
struct Deleter<scoresde_loss> {
    void operator()(scoresde_loss *p) const noexcept { scoresde_loss_free(p); }
};
template <>
struct Deleter<scoresde_trainer> {
    void operator()(scoresde_trainer *p) const noexcept { scoresde_trainer_free(p); }
};
template <>
struct Deleter<scoresde_sampler> {
    void operator()(scoresde_sampler *p) const noexcept { scoresde_sampler_free(p); }
};
/** @endcond */

/** An owned handle: move-only, freed by its `_free` function. */
template <class T>
using Handle = std::unique_ptr<T, Deleter<T>>;
using Sde = Handle<scoresde_sde>;         /**< an owned scoresde_sde */
using Model = Handle<scoresde_model>;     /**< an owned scoresde_model */
using Loss = Handle<scoresde_loss>;       /**< an owned scoresde_loss */
using Trainer = Handle<scoresde_trainer>; /**< an owned scoresde_trainer */
using Sampler = Handle<scoresde_sampler>; /**< an owned scoresde_sampler */

/** Frees bytes the library allocated (scoresde_model_save_buffer's). */
struct BufferDeleter {
    void operator()(void *p) const noexcept { scoresde_buffer_free(p); }
};
/** Owned bytes from scoresde_model_save_buffer. */
using Buffer = std::unique_ptr<void, BufferDeleter>;

/** Call a constructor whose first parameter is the out handle (every
 *  scoresde_*_create*, the clones, scoresde_trainer_export, the loaders) and
 *  own the result; throws Error naming `name` on failure. */
template <class T, class... Params, class... Args>
Handle<T> create(const char *name, int (*fn)(T **, Params...), Args &&...args) {
    T *raw = nullptr;
    check(fn(&raw, std::forward<Args>(args)...), name);
    return Handle<T>(raw);
}

/** create() naming the C function in the error: SCORESDE_CREATE(fn, args...). */
#define SCORESDE_CREATE(fn, ...) ::scoresde::create(#fn, fn, __VA_ARGS__)

/** A model's data transform (scoresde/model.h): x_data = shift + scale x_model,
 *  D values each; the identity (0, 1) when the model has none. */
struct Transform {
    std::vector<double> shift; /**< D shifts */
    std::vector<double> scale; /**< D positive scales */
};

/** The model's data transform (the identity when none is set). */
inline Transform get_transform(const scoresde_model *model) {
    const std::size_t D = scoresde_model_dim(model);
    Transform t{std::vector<double>(D), std::vector<double>(D)};
    check(scoresde_model_get_transform(model, t.shift.data(), t.scale.data()),
          "scoresde_model_get_transform");
    return t;
}

/** Set the model's data transform; throws Error (SCORESDE_EDIM) unless both
 *  vectors have D values, or the library's EINVAL for a bad value. */
inline void set_transform(scoresde_model *model, const Transform &t) {
    const std::size_t D = scoresde_model_dim(model);
    if (t.shift.size() != D || t.scale.size() != D)
        throw Error(SCORESDE_EDIM, "scoresde::set_transform (shift and scale need D values each)");
    check(scoresde_model_set_transform(model, t.shift.data(), t.scale.data()),
          "scoresde_model_set_transform");
}

/** Rows (n x D, row-major) from model units to data units, in place. */
inline void to_data(const scoresde_model *model, std::vector<double> &x) {
    const std::size_t D = scoresde_model_dim(model);
    if (D == 0 || x.size() % D != 0)
        throw Error(SCORESDE_EDIM, "scoresde::to_data (x is not whole rows of D values)");
    check(scoresde_model_to_data(model, x.data(), x.size() / D), "scoresde_model_to_data");
}

/** Rows from data units to model units, in place. */
inline void from_data(const scoresde_model *model, std::vector<double> &x) {
    const std::size_t D = scoresde_model_dim(model);
    if (D == 0 || x.size() % D != 0)
        throw Error(SCORESDE_EDIM, "scoresde::from_data (x is not whole rows of D values)");
    check(scoresde_model_from_data(model, x.data(), x.size() / D), "scoresde_model_from_data");
}

/**
 * A C++ callable as a score hook (scoresde_score_fn). Pass
 * &ScoreHook::trampoline as the hook and the ScoreHook's address as `user`;
 * the object must outlive the model and its clones. An exception thrown by
 * `fn` never crosses the C library: the trampoline keeps it and returns 1, so
 * the library call fails with SCORESDE_ECALLBACK, and call() rethrows the
 * original exception. One error slot: a hook model evaluated from several
 * threads at once needs one ScoreHook per thread.
 */
struct ScoreHook {
    /** The score: fill out (n x D) at the n points x (n x D) and times t (n). */
    std::function<void(const double *x, const double *t, std::size_t n, std::size_t D, double *out)>
        fn;
    /** The exception the last call of fn threw, until call() rethrows it. */
    std::exception_ptr error;

    /** The scoresde_score_fn to pass with `this` as `user`. */
    static int trampoline(const double *x, const double *t, std::size_t n, std::size_t D,
                          double *out, void *user) noexcept {
        auto *self = static_cast<ScoreHook *>(user);
        try {
            self->fn(x, t, n, D, out);
            return 0;
        } catch (...) {
            self->error = std::current_exception();
            return 1;
        }
    }

    /** Wrap a library call that may run this hook: rethrow the hook's
     *  exception, else check(status, name). */
    int call(int status, const char *name) {
        if (error) {
            std::exception_ptr e = error;
            error = nullptr;
            std::rethrow_exception(e);
        }
        return check(status, name);
    }
};

}  // namespace scoresde

#endif /* SCORESDE_HPP */
