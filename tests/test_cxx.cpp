// The C API from C++17 through the installed RAII wrappers (scoresde.hpp,
// shown in docs/cxx.md): owned handles in unique_ptr with the _free
// functions, an exception carrying the status and scoresde_last_error(), and
// C++ callables as hooks whose exceptions cross the C library as
// SCORESDE_ECALLBACK and are rethrown; spans for arrays, with size checks.
// Built with -Wall -Wextra -Werror; no test framework, the program exits 1 on
// the first failed check.
#include <scoresde.hpp>

#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <unistd.h>

// ------------------------------------------------------------------ checks

static int checks = 0;

#define EXPECT(cond)                                                                  \
    do {                                                                              \
        ++checks;                                                                     \
        if (!(cond)) {                                                                \
            std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            std::exit(1);                                                             \
        }                                                                             \
    } while (0)

static bool close_to(double a, double b, double rel) {
    return std::fabs(a - b) <= rel * std::fmax(1.0, std::fabs(b));
}

// VP SDE: alpha = exp(-t^2 (bmax - bmin)/4 - t bmin/2), sigma^2 = 1 - alpha^2.
static void test_sde() {
    scoresde::Sde sde = SCORESDE_CREATE(scoresde_sde_create_vp, 0.1, 20.0);
    EXPECT(scoresde_sde_kind(sde.get()) == SCORESDE_SDE_VP);
    const std::vector<double> t = {0.05, 0.5, 1.0};
    std::vector<double> alpha(3), sigma(3);
    SCORESDE_CHECK(scoresde_sde_marginal(sde.get(), t.data(), t.size(), alpha.data(), sigma.data(),
                                    nullptr, nullptr));
    for (size_t i = 0; i < t.size(); i++) {
        double a = std::exp(-0.25 * t[i] * t[i] * 19.9 - 0.05 * t[i]);
        EXPECT(close_to(alpha[i], a, 1e-13));
        EXPECT(close_to(sigma[i], std::sqrt(1 - a * a), 1e-12));
    }
    // perturb then the kernel score gives back -z / sigma
    const size_t D = 2;
    std::vector<double> x0 = {1, -1, 0.5, 2, -3, 0}, xt(6), z(6), ks(6);
    SCORESDE_CHECK(scoresde_sde_perturb(sde.get(), x0.data(), t.data(), 3, D, 9, 0, 0, xt.data(),
                                   z.data()));
    SCORESDE_CHECK(scoresde_sde_kernel_score(sde.get(), xt.data(), x0.data(), t.data(), 3, D,
                                        ks.data()));
    for (size_t k = 0; k < 6; k++) EXPECT(close_to(ks[k], -z[k] / sigma[k / D], 1e-9));

    scoresde::Sde copy = SCORESDE_CREATE(scoresde_sde_clone, sde.get());
    EXPECT(scoresde_sde_end_time(copy.get()) == 1.0);

    // handles move and never copy
    static_assert(!std::is_copy_constructible_v<scoresde::Sde>);
    scoresde::Sde moved = std::move(copy);
    EXPECT(!copy && scoresde_sde_end_time(moved.get()) == 1.0);

    // an error carries the status and the message naming the argument
    try {
        scoresde::Sde bad = SCORESDE_CREATE(scoresde_sde_create_vp, 0.1, 0.05);
        EXPECT(false);
    } catch (const scoresde::Error &e) {
        EXPECT(e.status() == SCORESDE_EINVAL);
        EXPECT(e.message().find("beta_max") != std::string::npos);
        EXPECT(std::string(e.what()).find("scoresde_sde_create_vp") != std::string::npos);
    }
}

// One Gaussian N(mu, v) per coordinate: score = -(x - alpha mu) / (alpha^2 v + sigma^2).
static void test_model_and_files() {
    scoresde::Sde sde = SCORESDE_CREATE(scoresde_sde_create_ve, 0.01, 50.0);
    const double w[] = {1.0}, mu[] = {1.5, -0.5}, v[] = {0.5, 2.0};
    scoresde::Model gmm = SCORESDE_CREATE(scoresde_model_create_gmm, sde.get(), 1, 2, w, mu, v);
    sde.reset();  // the model keeps its own copy of the SDE
    EXPECT(scoresde_model_dim(gmm.get()) == 2);
    const scoresde_sde *own = scoresde_model_sde(gmm.get());

    const std::vector<double> x = {0.0, 1.0, 2.0, -2.0}, t = {0.1, 0.6};
    std::vector<double> s(4), sig(2), alpha(2);
    SCORESDE_CHECK(scoresde_model_score(gmm.get(), x.data(), t.data(), 2, 2, s.data()));
    SCORESDE_CHECK(scoresde_sde_marginal(own, t.data(), 2, alpha.data(), sig.data(), nullptr, nullptr));
    for (size_t i = 0; i < 2; i++)
        for (size_t j = 0; j < 2; j++) {
            double var = alpha[i] * alpha[i] * v[j] + sig[i] * sig[i];
            EXPECT(close_to(s[i * 2 + j], -(x[i * 2 + j] - alpha[i] * mu[j]) / var, 1e-12));
        }

    // EDIM through the wrapper
    try {
        std::vector<double> out(6);
        SCORESDE_CHECK(scoresde_model_score(gmm.get(), x.data(), t.data(), 2, 3, out.data()));
        EXPECT(false);
    } catch (const scoresde::Error &e) {
        EXPECT(e.status() == SCORESDE_EDIM);
    }

    // a C++ lambda as the score: equal to the mixture's bits
    scoresde::ScoreHook hook;
    const scoresde_model *ref = gmm.get();
    hook.fn = [ref](const double *xx, const double *tt, size_t n, size_t D, double *out) {
        scoresde::check(scoresde_model_score(ref, xx, tt, n, D, out), "inner score");
    };
    scoresde::Model mine = SCORESDE_CREATE(scoresde_model_create_score_fn, own, 2,
                                &scoresde::ScoreHook::trampoline, nullptr, &hook);
    std::vector<double> s2(4);
    hook.call(scoresde_model_score(mine.get(), x.data(), t.data(), 2, 2, s2.data()), "score");
    EXPECT(s2 == s);

    // a throwing hook: the library returns ECALLBACK and the original exception comes back
    hook.fn = [](const double *, const double *, size_t, size_t, double *) {
        throw std::logic_error("hook says no");
    };
    try {
        hook.call(scoresde_model_score(mine.get(), x.data(), t.data(), 2, 2, s2.data()), "score");
        EXPECT(false);
    } catch (const std::logic_error &e) {
        EXPECT(std::string(e.what()) == "hook says no");
    }

    // files: bytes round trip, a file round trip, corruption
    void *raw = nullptr;
    size_t size = 0;
    SCORESDE_CHECK(scoresde_model_save_buffer(gmm.get(), &raw, &size));
    scoresde::Buffer bytes(raw);
    scoresde::Model back = SCORESDE_CREATE(scoresde_model_load_buffer, bytes.get(), size);
    std::vector<double> s3(4);
    SCORESDE_CHECK(scoresde_model_score(back.get(), x.data(), t.data(), 2, 2, s3.data()));
    EXPECT(s3 == s);

    std::string path = std::string(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp") +
                       "/scoresde-test-cxx-" + std::to_string(getpid()) + ".sde";
    SCORESDE_CHECK(scoresde_model_save(gmm.get(), path.c_str()));
    scoresde::Model loaded = SCORESDE_CREATE(scoresde_model_load, path.c_str());
    std::remove(path.c_str());
    SCORESDE_CHECK(scoresde_model_score(loaded.get(), x.data(), t.data(), 2, 2, s3.data()));
    EXPECT(s3 == s);

    std::vector<unsigned char> broken(static_cast<unsigned char *>(bytes.get()),
                                      static_cast<unsigned char *>(bytes.get()) + size);
    broken[size / 2] ^= 0x10;
    try {
        scoresde::Model bad = SCORESDE_CREATE(scoresde_model_load_buffer, broken.data(), broken.size());
        EXPECT(false);
    } catch (const scoresde::Error &e) {
        EXPECT(e.status() == SCORESDE_ECORRUPT);
    }
    try {
        void *none = nullptr;
        size_t nsize = 0;
        SCORESDE_CHECK(scoresde_model_save_buffer(mine.get(), &none, &nsize));
        EXPECT(false);
    } catch (const scoresde::Error &e) {
        EXPECT(e.status() == SCORESDE_EUNSUPPORTED);
    }
}

// docs/cxx.md's training example (tests/cxx_train_example.inc, compiled here
// as written) on N((2, -1), 0.25 I) data, then error paths of the new handles.
static void test_train_and_sample() {
    std::vector<double> data(2 * 2000);
    SCORESDE_CHECK(scoresde_rng_normal(7, 0, 0, data.size(), data.data()));
    for (size_t k = 0; k < data.size(); k++) data[k] = 0.5 * data[k] + (k % 2 ? -1.0 : 2.0);
    {
#include "cxx_train_example.inc"
        // sample means of 500 points: sd 0.5 / sqrt(500) = 0.022 per axis, 5 sd =
        // 0.11, plus 0.1 for a network trained for only 300 steps
        double m[2] = {0, 0};
        for (size_t k = 0; k < x.size(); k++) m[k % 2] += x[k] / 500;
        EXPECT(std::fabs(m[0] - 2.0) < 0.21 && std::fabs(m[1] + 1.0) < 0.21);
        EXPECT(scoresde_trainer_steps(trainer.get()) == 300);

        // errors through the wrappers: a mixture cannot be trained, bad settings are named
        const double w[] = {1.0}, mu[] = {0.0, 0.0}, v[] = {1.0, 1.0};
        scoresde::Model gmm = SCORESDE_CREATE(scoresde_model_create_gmm, sde.get(), 1, 2, w, mu, v);
        try {
            scoresde::Trainer bad = SCORESDE_CREATE(scoresde_trainer_create, gmm.get(), loss.get());
            EXPECT(false);
        } catch (const scoresde::Error &e) {
            EXPECT(e.status() == SCORESDE_EUNSUPPORTED);
        }
        try {
            SCORESDE_CHECK(scoresde_sampler_set_int(pc.get(), SCORESDE_SAMPLER_STEPS, 0));
            EXPECT(false);
        } catch (const scoresde::Error &e) {
            EXPECT(e.status() == SCORESDE_EINVAL);
        }
        try {
            scoresde::Loss bad = SCORESDE_CREATE(scoresde_loss_create, 99);
            EXPECT(false);
        } catch (const scoresde::Error &e) {
            EXPECT(e.status() == SCORESDE_EINVAL);
        }
        // a C++ progress hook that throws: the exception comes back through ScoreHook's pattern
        struct Stop {
            std::exception_ptr error;
            static int progress(uint64_t step, double, uint64_t, void *user) noexcept {
                try {
                    if (step == 3) throw std::runtime_error("enough");
                    return 0;
                } catch (...) {
                    static_cast<Stop *>(user)->error = std::current_exception();
                    return 1;
                }
            }
        } stop;
        SCORESDE_CHECK(scoresde_sampler_set_progress(pc.get(), &Stop::progress, &stop));
        int st = scoresde_sampler_sample(pc.get(), model.get(), nullptr, 4, 2, 1, 0, x.data(),
                                         nullptr);
        EXPECT(st == SCORESDE_ECALLBACK && stop.error);
    }
}

// The likelihood report through the wrappers (docs/cxx.md, "Likelihoods"):
// the bound of the trained-free exact model and a report row that adds up.
static void test_bound_report() {
    scoresde::Sde sde = SCORESDE_CREATE(scoresde_sde_create_vp, 0.1, 20.0);
    const double w[] = {1.0}, mu[] = {0.5, -1.0}, v[] = {0.3, 0.3};
    scoresde::Model gmm = SCORESDE_CREATE(scoresde_model_create_gmm, sde.get(), 1, 2, w, mu, v);
    scoresde::Sampler s = SCORESDE_CREATE(scoresde_sampler_create, SCORESDE_SAMPLER_PC);
    const double x[] = {0.5, -1.0, 1.0, 0.0};
    double nll[2], se[2], rows[2 * SCORESDE_REPORT_COLUMNS];
    SCORESDE_CHECK(scoresde_sampler_bound(s.get(), gmm.get(), x, 2, 2, 1, 0, nll, se, nullptr));
    SCORESDE_CHECK(scoresde_sampler_report(s.get(), gmm.get(), SCORESDE_REPORT_BOUND, x, 2, 2, 1, 0,
                                      rows, SCORESDE_REPORT_COLUMNS, nullptr));
    for (int i = 0; i < 2; i++) {
        const double *r = rows + i * SCORESDE_REPORT_COLUMNS;
        EXPECT(r[SCORESDE_REPORT_TOTAL] == nll[i] && se[i] > 0);
        EXPECT(r[SCORESDE_REPORT_TOTAL] == ((r[0] + r[1]) + r[2]) + r[3]);
    }
    try {
        SCORESDE_CHECK(scoresde_sampler_report(s.get(), gmm.get(), 9, x, 2, 2, 1, 0, rows,
                                          SCORESDE_REPORT_COLUMNS, nullptr));
        EXPECT(false);
    } catch (const scoresde::Error &e) {
        EXPECT(e.status() == SCORESDE_EINVAL);
    }
}

// Spans: the array-taking wrappers accept vectors, std::arrays, C arrays and
// pointer + size, give the C calls' bits, and refuse wrong sizes with
// scoresde::Error (SCORESDE_EDIM, naming the array) before calling the library.
static void test_spans() {
    // what converts to what
    static_assert(std::is_convertible_v<std::vector<double> &, scoresde::span<double>>);
    static_assert(std::is_convertible_v<const std::vector<double> &, scoresde::span<const double>>);
    static_assert(!std::is_convertible_v<const std::vector<double> &, scoresde::span<double>>);
    static_assert(!std::is_convertible_v<std::vector<float> &, scoresde::span<const double>>);
    static_assert(std::is_convertible_v<scoresde::span<double>, scoresde::span<const double>>);
    static_assert(!std::is_convertible_v<scoresde::span<const double>, scoresde::span<double>>);
    std::array<double, 3> arr = {1, 2, 3};
    double carr[4] = {0, 0, 0, 0};
    scoresde::span<const double> a(arr);
    scoresde::span<double> c(carr), p(carr + 1, 2), none;
    EXPECT(a.size() == 3 && a[2] == 3 && a.data() == arr.data());
    EXPECT(c.size() == 4 && p.size() == 2 && p.data() == carr + 1 && none.empty());
    double sum = 0;
    for (double v : a) sum += v;
    EXPECT(sum == 6);
    scoresde::span<const double> ro = c;  // mutable to read-only
    EXPECT(ro.data() == carr && ro.size() == 4);

    auto expect_edim = [](const std::function<void()> &call, const char *array) {
        try {
            call();
            EXPECT(false);
        } catch (const scoresde::Error &e) {
            EXPECT(e.status() == SCORESDE_EDIM);
            EXPECT(e.message().rfind(array, 0) == 0);  // the message starts with the array's name
        }
    };

    scoresde::Sde sde = SCORESDE_CREATE(scoresde_sde_create_vp, 0.1, 20.0);
    const std::vector<double> t = {0.1, 0.6};
    std::array<double, 2> alpha{}, sigma{};
    double ca[2], cs[2];
    scoresde::marginal(sde.get(), t, alpha, sigma);
    SCORESDE_CHECK(scoresde_sde_marginal(sde.get(), t.data(), 2, ca, cs, nullptr, nullptr));
    EXPECT(alpha[0] == ca[0] && alpha[1] == ca[1] && sigma[0] == cs[0] && sigma[1] == cs[1]);
    expect_edim([&] { scoresde::marginal(sde.get(), t, scoresde::span<double>(ca, 1), sigma); },
                "alpha");

    // a two-component mixture in 2-D, from spans and from the C call
    const std::vector<double> w = {0.3, 0.7}, mu = {1, 2, -1, 0}, var = {0.5, 0.5, 1, 2};
    scoresde::Model gmm = scoresde::gmm(sde.get(), w, mu, var);
    scoresde::Model ref = SCORESDE_CREATE(scoresde_model_create_gmm, sde.get(), 2, 2, w.data(),
                                          mu.data(), var.data());
    EXPECT(scoresde_model_dim(gmm.get()) == 2);
    expect_edim([&] { scoresde::gmm(sde.get(), w, scoresde::span<const double>(mu.data(), 3), var); },
                "means");
    expect_edim([&] { scoresde::gmm(sde.get(), w, mu, scoresde::span<const double>(var.data(), 2)); },
                "variances");

    const std::vector<double> x = {0.5, 1.0, -0.5, 0.2};
    std::vector<double> s(4), s_ref(4);
    scoresde::score(gmm.get(), x, t, s);
    SCORESDE_CHECK(scoresde_model_score(ref.get(), x.data(), t.data(), 2, 2, s_ref.data()));
    EXPECT(s == s_ref);
    expect_edim([&] { scoresde::score(gmm.get(), x, t, scoresde::span<double>(s.data(), 3)); }, "out");
    expect_edim([&] { scoresde::score(gmm.get(), scoresde::span<const double>(x.data(), 2), t, s); },
                "x");

    scoresde::Sampler ode = SCORESDE_CREATE(scoresde_sampler_create, SCORESDE_SAMPLER_ODE);
    SCORESDE_CHECK(scoresde_sampler_set_int(ode.get(), SCORESDE_SAMPLER_STEPS, 20));
    std::vector<double> out(6), out_ref(6);
    scoresde_sampler_stats st = scoresde::sample(ode.get(), gmm.get(), out, 5, 2);
    SCORESDE_CHECK(scoresde_sampler_sample(ode.get(), ref.get(), nullptr, 3, 2, 5, 2,
                                           out_ref.data(), nullptr));
    EXPECT(out == out_ref && st.nfe > 0 && st.t_final > 0);
    const std::vector<double> x_T = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6};
    scoresde::sample(ode.get(), gmm.get(), out, 5, 0, x_T);
    SCORESDE_CHECK(scoresde_sampler_sample(ode.get(), ref.get(), x_T.data(), 3, 2, 5, 0,
                                           out_ref.data(), nullptr));
    EXPECT(out == out_ref);
    expect_edim([&] { scoresde::sample(ode.get(), gmm.get(), scoresde::span<double>(out.data(), 5), 5); },
                "out");
    expect_edim([&] { scoresde::sample(ode.get(), gmm.get(), out, 5, 0, scoresde::span<const double>(x_T.data(), 4)); },
                "x_T");

    // fit: a stopping progress hook is an Error with SCORESDE_ECALLBACK, as in
    // the sampler; the steps done are kept
    scoresde_mlp_options opt;
    SCORESDE_CHECK(scoresde_model_mlp_options_init(&opt, sizeof opt));
    const size_t widths[1] = {8};
    opt.n_hidden = 1, opt.widths = widths;
    scoresde::Model net = SCORESDE_CREATE(scoresde_model_create_mlp, sde.get(), 2, &opt);
    scoresde::Loss loss = SCORESDE_CREATE(scoresde_loss_create, SCORESDE_LOSS_DSM);
    scoresde::Trainer tr = SCORESDE_CREATE(scoresde_trainer_create, net.get(), loss.get());
    auto stop_at_3 = [](uint64_t step, double, double, void *) -> int { return step >= 3; };
    try {
        scoresde::fit(tr.get(), x, 2, 10, stop_at_3);
        EXPECT(false);
    } catch (const scoresde::Error &e) {
        EXPECT(e.status() == SCORESDE_ECALLBACK);
    }
    uint64_t kept = scoresde_trainer_steps(tr.get());
    EXPECT(kept == 3);  // the step the hook stopped at is kept
    expect_edim([&] { scoresde::fit(tr.get(), scoresde::span<const double>(x.data(), 3), 2, 1); },
                "data");
    EXPECT(scoresde_trainer_steps(tr.get()) == kept);
}

// IID observations and the prior-support hook through the wrappers: the
// composed model owned as any model, a SupportHook redrawing samples and
// rethrowing its exception.
static void test_iid_and_support() {
    scoresde::Sde sde = SCORESDE_CREATE(scoresde_sde_create_vp, 0.1, 20.0);
    const double m0[] = {0.0, 0.0}, S0[] = {1.0, 0.0, 0.0, 1.0}, A[] = {1.0, 0.0, 0.0, 1.0};
    const double Se[] = {0.5, 0.0, 0.0, 0.5}, ys[] = {0.5, -0.5, 0.7, -0.1};
    const double P0[] = {1.0, 0.0, 0.0, 1.0}, Pp[] = {3.0, 0.0, 0.0, 3.0};
    scoresde::Model lg = SCORESDE_CREATE(scoresde_model_create_linear_gaussian, sde.get(), 2, 2,
                                         m0, S0, A, nullptr, Se);
    scoresde::Model iid = SCORESDE_CREATE(scoresde_model_create_iid, lg.get(), nullptr, 2, ys,
                                          SCORESDE_IID_GAUSS, P0, Pp);
    EXPECT(scoresde_model_kind(iid.get()) == SCORESDE_MODEL_IID);
    // the closed form at t = 0: precision I + 2 A^T Se^-1 A = 5 I, mean 2 (y_1 + y_2) / 5
    const double x[] = {0.3, -0.2}, t[] = {0.0};
    double s[2];
    SCORESDE_CHECK(scoresde_model_score(iid.get(), x, t, 1, 2, s));
    EXPECT(std::abs(s[0] + 5.0 * (0.3 - 2.0 * 1.2 / 5.0)) < 1e-12);
    EXPECT(std::abs(s[1] + 5.0 * (-0.2 - 2.0 * -0.6 / 5.0)) < 1e-12);
    scoresde::Sampler smp = SCORESDE_CREATE(scoresde_sampler_create, SCORESDE_SAMPLER_PC);
    SCORESDE_CHECK(scoresde_sampler_set_int(smp.get(), SCORESDE_SAMPLER_STEPS, 40));
    scoresde::SupportHook hook;
    hook.fn = [](const double *xs, std::size_t n, std::size_t D, unsigned char *outside) {
        for (std::size_t i = 0; i < n; i++) outside[i] = xs[i * D] < 0.0;
    };
    SCORESDE_CHECK(scoresde_sampler_set_support(smp.get(), &scoresde::SupportHook::trampoline, &hook));
    double out[2 * 32];
    scoresde_sampler_stats st = {};
    st.struct_size = sizeof st;
    hook.call(scoresde_sampler_sample(smp.get(), iid.get(), nullptr, 32, 2, 3, 0, out, &st),
              "scoresde_sampler_sample");
    EXPECT(st.outside == 0 && st.redrawn > 0);
    for (int i = 0; i < 32; i++) EXPECT(out[2 * i] >= 0.0);
    hook.fn = [](const double *, std::size_t, std::size_t, unsigned char *) {
        throw std::runtime_error("support hook failed");
    };
    try {
        hook.call(scoresde_sampler_sample(smp.get(), iid.get(), nullptr, 4, 2, 3, 0, out, nullptr),
                  "scoresde_sampler_sample");
        EXPECT(false);
    } catch (const std::runtime_error &e) {
        EXPECT(std::string(e.what()) == "support hook failed");
    }
}

// A residual MLP through the wrappers: defaults, identity at creation (the
// output layer starts at zero: a NOISE score of 0), a save round trip.
static void test_resmlp() {
    scoresde::Sde sde = SCORESDE_CREATE(scoresde_sde_create_vp, 0.1, 20.0);
    scoresde_resmlp_options o = scoresde::resmlp_options();
    EXPECT(o.width == 256 && o.blocks == 4);
    o.width = 8, o.blocks = 2;
    scoresde::Model m = SCORESDE_CREATE(scoresde_model_create_resmlp, sde.get(), 2, &o);
    EXPECT(scoresde_model_kind(m.get()) == SCORESDE_MODEL_RESMLP);
    const double x[] = {0.3, -0.2}, t[] = {0.5};
    double s[2] = {1, 1};
    SCORESDE_CHECK(scoresde_model_score(m.get(), x, t, 1, 2, s));
    EXPECT(s[0] == 0.0 && s[1] == 0.0);
    EXPECT(scoresde::mlp_options().n_hidden == 3);
    o.width = 0;
    try {
        scoresde::Model bad = SCORESDE_CREATE(scoresde_model_create_resmlp, sde.get(), 2, &o);
        EXPECT(false);
    } catch (const scoresde::Error &e) {
        EXPECT(e.status() == SCORESDE_EINVAL);
    }
}

// The samplers of issue 15 through the wrappers: iPNDM, DDIM with eta, the
// stochastic DPM-Solver++ and Restart sample the Gaussian with its final-step
// setting.
static void test_new_samplers() {
    scoresde::Sde sde = SCORESDE_CREATE(scoresde_sde_create_vp, 0.1, 20.0);
    const double w[] = {1.0}, mu[] = {0.5, -1.0}, v[] = {0.3, 0.3};
    scoresde::Model gmm = SCORESDE_CREATE(scoresde_model_create_gmm, sde.get(), 1, 2, w, mu, v);
    const int methods[] = {SCORESDE_SAMPLER_IPNDM, SCORESDE_SAMPLER_DDIM,
                           SCORESDE_SAMPLER_DPMPP_SDE, SCORESDE_SAMPLER_RESTART};
    for (int method : methods) {
        scoresde::Sampler s = SCORESDE_CREATE(scoresde_sampler_create, method);
        SCORESDE_CHECK(scoresde_sampler_set_int(s.get(), SCORESDE_SAMPLER_FINAL_STEP,
                                                SCORESDE_SAMPLER_FINAL_TWEEDIE));
        SCORESDE_CHECK(scoresde_sampler_set_double(s.get(), SCORESDE_SAMPLER_ETA, 0.5));
        std::vector<double> x(2 * 400);
        SCORESDE_CHECK(scoresde_sampler_sample(s.get(), gmm.get(), nullptr, 400, 2, 1, 0,
                                               x.data(), nullptr));
        double mean = 0;
        for (size_t i = 0; i < 400; i++) mean += x[2 * i] / 400;
        EXPECT(std::fabs(mean - 0.5) < 0.15);
    }
}

// The library's names through the wrappers: a method, a setting and a value
// by name select what their ids do; an unknown name throws EINVAL.
static void test_names() {
    EXPECT(scoresde::sampler_method("dpmpp_sde") == SCORESDE_SAMPLER_DPMPP_SDE);
    EXPECT(scoresde::sampler_setting("restart_tmin") == SCORESDE_SAMPLER_RESTART_TMIN);
    EXPECT(scoresde::sampler_value(SCORESDE_SAMPLER_GRID, "karras") ==
           SCORESDE_SAMPLER_GRID_KARRAS);
    try {
        scoresde::sampler_method("DPMPP");
        EXPECT(false);
    } catch (const scoresde::Error &e) {
        EXPECT(e.status() == SCORESDE_EINVAL);
        EXPECT(std::string(e.what()).find("dpmpp_sde") != std::string::npos);
    }
}

// The docs show exactly the example compiled above: compare docs/cxx.md's
// "Training and sampling" block with the .inc file (paths from meson).
static void test_docs_show_the_example(const char *doc_path, const char *inc_path) {
    auto slurp = [](const char *path) {
        std::string text;
        if (FILE *f = std::fopen(path, "rb")) {
            char buf[4096];
            size_t got;
            while ((got = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, got);
            std::fclose(f);
        }
        return text;
    };
    std::string doc = slurp(doc_path), inc = slurp(inc_path);
    EXPECT(!inc.empty());
    size_t sec = doc.find("## Training and sampling");
    EXPECT(sec != std::string::npos);
    size_t begin = doc.find("```cpp\n", sec);
    EXPECT(begin != std::string::npos);
    begin += 7;
    size_t end = doc.find("```", begin);
    EXPECT(end != std::string::npos && doc.substr(begin, end - begin) == inc);
}

static void test_transform() {
    scoresde::Sde sde = SCORESDE_CREATE(scoresde_sde_create_vp, 0.1, 20.0);
    const double w[] = {1.0}, mu[] = {1.5, -0.5}, v[] = {0.5, 2.0};
    scoresde::Model gmm = SCORESDE_CREATE(scoresde_model_create_gmm, sde.get(), 1, 2, w, mu, v);
    scoresde::Transform id = scoresde::get_transform(gmm.get());
    EXPECT(id.shift == std::vector<double>({0.0, 0.0}) && id.scale == std::vector<double>({1.0, 1.0}));
    const std::vector<double> shift = {300.0, -2.5}, scale = {50.0, 0.125};
    scoresde::set_transform(gmm.get(), shift, scale);
    std::vector<double> x = {1.0, 2.0, -4.0, 8.0};
    scoresde::to_data(gmm.get(), x);
    EXPECT(x == std::vector<double>({350.0, -2.25, 100.0, -1.5}));
    scoresde::from_data(gmm.get(), x);
    EXPECT(x == std::vector<double>({1.0, 2.0, -4.0, 8.0}));
    scoresde::Buffer bytes;
    void *raw = nullptr;
    size_t size = 0;
    SCORESDE_CHECK(scoresde_model_save_buffer(gmm.get(), &raw, &size));
    bytes.reset(raw);
    scoresde::Model back = SCORESDE_CREATE(scoresde_model_load_buffer, bytes.get(), size);
    EXPECT(scoresde::get_transform(back.get()).scale == std::vector<double>({50.0, 0.125}));
    bool thrown = false;
    try {
        const double zero[2] = {0.0, 0.0}, negative[2] = {1.0, -1.0};
        scoresde::set_transform(gmm.get(), zero, negative);
    } catch (const scoresde::Error &e) {
        thrown = e.status() == SCORESDE_EINVAL && e.message().find("scale[1]") != std::string::npos;
    }
    EXPECT(thrown);
    thrown = false;
    try {
        const std::vector<double> one = {1.0};
        scoresde::set_transform(gmm.get(), one, one);
    } catch (const scoresde::Error &e) {
        thrown = e.status() == SCORESDE_EDIM;
    }
    EXPECT(thrown);
    std::vector<double> odd = {1.0, 2.0, 3.0};
    thrown = false;
    try {
        scoresde::to_data(gmm.get(), odd);
    } catch (const scoresde::Error &e) {
        thrown = e.status() == SCORESDE_EDIM;
    }
    EXPECT(thrown);
}

int main(int argc, char **argv) {
    const size_t live = scoresde_live_allocations();
    EXPECT(scoresde_version_number() == SCORESDE_VERSION_NUMBER);
    test_sde();
    test_model_and_files();
    test_train_and_sample();
    test_bound_report();
    test_transform();
    test_spans();
    test_iid_and_support();
    test_resmlp();
    test_new_samplers();
    test_names();
    if (argc == 3) test_docs_show_the_example(argv[1], argv[2]);
    EXPECT(scoresde_live_allocations() == live);  // every handle was freed by its owner
    std::printf("test_cxx: %d checks passed\n", checks);
    return 0;
}
