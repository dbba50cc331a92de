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
 * The functions taking arrays (marginal, score, gmm, sample, fit) take them as
 * scoresde::span views of a std::vector, a std::array, a C array or any
 * contiguous container, and check their sizes against each other and the
 * model's dimension before calling the library.
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
#include <cstdint>
#include <exception>
#include <functional>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
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
    /** An error the wrapper found before calling the library (e.g. arrays of
     *  the wrong size): @p status, the wrapper's @p function and @p message. */
    Error(int status, const char *function, const std::string &message)
        : std::runtime_error(std::string(function) + ": " + scoresde_strerror(status) + ": " +
                             message),
          status_(status), message_(message) {}
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

/** A hook's kept exception, rethrown (and cleared) if set; else check(status, name). */
inline int rethrow_or_check(std::exception_ptr &error, int status, const char *name) {
    if (error) {
        std::exception_ptr e = error;
        error = nullptr;
        std::rethrow_exception(e);
    }
    return check(status, name);
}

/** The network kinds' options at the library's defaults, for
 *  scoresde_model_create_mlp and scoresde_model_create_resmlp (1.1):
 *  auto o = scoresde::resmlp_options(); o.width = 128;
 *  scoresde::Model m = SCORESDE_CREATE(scoresde_model_create_resmlp, sde.get(), D, &o); */
inline scoresde_mlp_options mlp_options() {
    scoresde_mlp_options o;
    check(scoresde_model_mlp_options_init(&o, sizeof o), "scoresde_model_mlp_options_init");
    return o;
}
inline scoresde_resmlp_options resmlp_options() {
    scoresde_resmlp_options o;
    check(scoresde_model_resmlp_options_init(&o, sizeof o), "scoresde_model_resmlp_options_init");
    return o;
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
    int call(int status, const char *name) { return rethrow_or_check(error, status, name); }
};

/**
 * A C++ callable as the sampler's prior-support hook (scoresde_support_fn,
 * 1.1): install it with scoresde_sampler_set_support(s,
 * &SupportHook::trampoline, &hook); the object must outlive the sampler's
 * use of it. Exceptions are carried as by ScoreHook (wrap the sampling call
 * in call()). The composed IID model needs no wrapper:
 * SCORESDE_CREATE(scoresde_model_create_iid, ...) owns it as any model.
 */
struct SupportHook {
    /** Set outside[i] = 1 for each sample (row i of the n x D x) outside the support. */
    std::function<void(const double *x, std::size_t n, std::size_t D, unsigned char *outside)> fn;
    /** The exception the last call of fn threw, until call() rethrows it. */
    std::exception_ptr error;

    /** The scoresde_support_fn to pass with `this` as `user`. */
    static int trampoline(const double *x, std::size_t n, std::size_t D, unsigned char *outside,
                          void *user) noexcept {
        auto *self = static_cast<SupportHook *>(user);
        try {
            self->fn(x, n, D, outside);
            return 0;
        } catch (...) {
            self->error = std::current_exception();
            return 1;
        }
    }

    /** Rethrow the hook's exception, else check(status, name). */
    int call(int status, const char *name) { return rethrow_or_check(error, status, name); }
};

/**
 * A view of @p size contiguous elements of type T (C++17 has no std::span):
 * made from a pointer and a size, a C array, or any contiguous container
 * with data() and size() (std::vector, std::array, std::string, another
 * span); span<double> converts to span<const double>. It does not own the
 * elements: the container must outlive the call it is passed to.
 */
template <class T>
class span {
    template <class C>
    using element_of = std::remove_pointer_t<decltype(std::data(std::declval<C &>()))>;
    template <class C>
    using if_container = std::enable_if_t<
        !std::is_array_v<std::remove_reference_t<C>> &&
        std::is_convertible_v<element_of<C> (*)[], T (*)[]> &&
        std::is_convertible_v<decltype(std::size(std::declval<C &>())), std::size_t>>;

public:
    /** An empty view. */
    constexpr span() noexcept = default;
    /** The @p size elements at @p data. */
    constexpr span(T *data, std::size_t size) noexcept : data_(data), size_(size) {}
    /** The elements of a C array. */
    template <std::size_t N>
    constexpr span(T (&array)[N]) noexcept : data_(array), size_(N) {}
    /** The elements of a contiguous container (data(), size()). */
    template <class C, class = if_container<C>>
    constexpr span(C &&container) noexcept
        : data_(std::data(container)), size_(std::size(container)) {}

    /** The first element (nullptr for an empty default view). */
    constexpr T *data() const noexcept { return data_; }
    /** The number of elements. */
    constexpr std::size_t size() const noexcept { return size_; }
    /** True when size() is 0. */
    constexpr bool empty() const noexcept { return size_ == 0; }
    /** Element @p i (unchecked). */
    constexpr T &operator[](std::size_t i) const noexcept { return data_[i]; }
    /** Iterators over the elements. */
    constexpr T *begin() const noexcept { return data_; }
    /** @copydoc begin */
    constexpr T *end() const noexcept { return data_ + size_; }

private:
    T *data_ = nullptr;
    std::size_t size_ = 0;
};

/** @cond */
namespace detail {
// Throw Error(SCORESDE_EDIM) naming the function and the array unless it has
// `want` elements.
inline void expect_size(const char *function, const char *array, std::size_t got,
                        std::size_t want) {
    if (got != want)
        throw Error(SCORESDE_EDIM, function,
                    std::string(array) + " has " + std::to_string(got) + " elements, expected " +
                        std::to_string(want));
}
// Rows of `array` (size got) with `width` columns; throws unless a whole,
// non-zero number of rows.
inline std::size_t rows(const char *function, const char *array, std::size_t got,
                        std::size_t width) {
    if (width == 0 || got == 0 || got % width != 0)
        throw Error(SCORESDE_EDIM, function,
                    std::string(array) + " has " + std::to_string(got) +
                        " elements, not a non-zero multiple of " + std::to_string(width));
    return got / width;
}
}  // namespace detail
/** @endcond */

/** scoresde_sde_marginal for the times @p t: alpha and sigma get t.size()
 *  values each (their sizes must equal t's, else Error with SCORESDE_EDIM). */
inline void marginal(const scoresde_sde *sde, span<const double> t, span<double> alpha,
                     span<double> sigma) {
    detail::expect_size("scoresde::marginal", "alpha", alpha.size(), t.size());
    detail::expect_size("scoresde::marginal", "sigma", sigma.size(), t.size());
    check(scoresde_sde_marginal(sde, t.data(), t.size(), alpha.data(), sigma.data(), nullptr,
                                nullptr),
          "scoresde_sde_marginal");
}

/** The exact mixture model: K = weights.size() components, D = means.size() / K;
 *  means and variances hold K x D values (else Error with SCORESDE_EDIM). */
inline Model gmm(const scoresde_sde *sde, span<const double> weights, span<const double> means,
                 span<const double> variances) {
    std::size_t K = weights.size();
    std::size_t D = detail::rows("scoresde::gmm", "means", means.size(), K);
    detail::expect_size("scoresde::gmm", "variances", variances.size(), K * D);
    return create("scoresde_model_create_gmm", scoresde_model_create_gmm, sde, K, D,
                  weights.data(), means.data(), variances.data());
}

/** scoresde_model_score at the n = t.size() points x (n x D, D the model's
 *  dimension) into out (n x D); sizes are checked (SCORESDE_EDIM). */
inline void score(const scoresde_model *model, span<const double> x, span<const double> t,
                  span<double> out) {
    std::size_t D = scoresde_model_dim(model);
    detail::expect_size("scoresde::score", "x", x.size(), t.size() * D);
    detail::expect_size("scoresde::score", "out", out.size(), t.size() * D);
    check(scoresde_model_score(model, x.data(), t.data(), t.size(), D, out.data()),
          "scoresde_model_score");
}

/** scoresde_sampler_sample: n = out.size() / D samples (D the model's
 *  dimension; out must hold a whole number of rows) from the prior, or from
 *  @p x_T (n x D) when it is not empty. Returns the run's statistics. */
inline scoresde_sampler_stats sample(const scoresde_sampler *s, const scoresde_model *model,
                                     span<double> out, std::uint64_t seed,
                                     std::uint64_t first_sample = 0,
                                     span<const double> x_T = {}) {
    std::size_t D = scoresde_model_dim(model);
    std::size_t n = detail::rows("scoresde::sample", "out", out.size(), D);
    if (!x_T.empty()) detail::expect_size("scoresde::sample", "x_T", x_T.size(), n * D);
    scoresde_sampler_stats stats{};
    stats.struct_size = sizeof stats;
    check(scoresde_sampler_sample(s, model, x_T.empty() ? nullptr : x_T.data(), n, D, seed,
                                  first_sample, out.data(), &stats),
          "scoresde_sampler_sample");
    return stats;
}

/** scoresde_trainer_fit on the rows of @p data (m x D, a whole number of
 *  rows). A progress hook that asks to stop makes the call throw Error with
 *  SCORESDE_ECALLBACK, as every stopping hook does (the steps done are kept:
 *  scoresde_trainer_steps counts them). */
inline void fit(scoresde_trainer *trainer, span<const double> data, std::size_t D,
                std::uint64_t steps, scoresde_train_progress_fn progress = nullptr,
                void *user = nullptr) {
    std::size_t m = detail::rows("scoresde::fit", "data", data.size(), D);
    check(scoresde_trainer_fit(trainer, data.data(), m, D, steps, progress, user),
          "scoresde_trainer_fit");
}

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

/** scoresde_model_set_transform: shift and scale need D values each (else
 *  Error with SCORESDE_EDIM); a bad value is the library's SCORESDE_EINVAL. */
inline void set_transform(scoresde_model *model, span<const double> shift,
                          span<const double> scale) {
    const std::size_t D = scoresde_model_dim(model);
    detail::expect_size("scoresde::set_transform", "shift", shift.size(), D);
    detail::expect_size("scoresde::set_transform", "scale", scale.size(), D);
    check(scoresde_model_set_transform(model, shift.data(), scale.data()),
          "scoresde_model_set_transform");
}

/** scoresde_model_to_data on the rows of @p x (a whole number of rows of D). */
inline void to_data(const scoresde_model *model, span<double> x) {
    std::size_t n = detail::rows("scoresde::to_data", "x", x.size(), scoresde_model_dim(model));
    check(scoresde_model_to_data(model, x.data(), n), "scoresde_model_to_data");
}

/** scoresde_model_from_data on the rows of @p x (a whole number of rows of D). */
inline void from_data(const scoresde_model *model, span<double> x) {
    std::size_t n = detail::rows("scoresde::from_data", "x", x.size(), scoresde_model_dim(model));
    check(scoresde_model_from_data(model, x.data(), n), "scoresde_model_from_data");
}

/** The sampler method of a library name ("dpmpp_sde"; scoresde_sampler_method_id);
 *  an unknown name throws Error with SCORESDE_EINVAL, its message listing the names. */
inline int sampler_method(const char *name) {
    int method = 0;
    check(scoresde_sampler_method_id(name, &method), "scoresde_sampler_method_id");
    return method;
}

/** The sampler setting of a library name ("restart_tmin"; scoresde_sampler_setting_id);
 *  an unknown name throws Error with SCORESDE_EINVAL. */
inline int sampler_setting(const char *name) {
    int setting = 0;
    check(scoresde_sampler_setting_id(name, &setting), "scoresde_sampler_setting_id");
    return setting;
}

/** The value named @p name of an enum-valued sampler setting ("karras" of GRID;
 *  scoresde_sampler_value_id); an unknown name throws Error with SCORESDE_EINVAL. */
inline int sampler_value(int setting, const char *name) {
    int value = 0;
    check(scoresde_sampler_value_id(setting, name, &value), "scoresde_sampler_value_id");
    return value;
}

}  // namespace scoresde

#endif /* SCORESDE_HPP */
