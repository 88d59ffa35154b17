#include "core/common.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <cblas.h>

#include "core/cpu.h"

/* Weak: tools that run no GEMM do not load OpenBLAS (see cli.c). */
#pragma weak openblas_get_corename
#pragma weak openblas_get_config
#pragma weak openblas_set_num_threads

/* Written once under pthread_once; read-only after. */
static enum rvt_isa g_isa;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void detect(void)
{
    enum rvt_isa isa = RVT_ISA_REF;
    const char *force = getenv("RVT_ISA");

    /* libgcc's checks include OS support (XGETBV) for the AVX state */
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        isa = RVT_ISA_AVX2;
    if (isa == RVT_ISA_AVX2 && __builtin_cpu_supports("avx512f") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vnni"))
        isa = RVT_ISA_AVX512;
    if (force) {
        enum rvt_isa want = isa;
        if (!strcmp(force, "ref"))
            want = RVT_ISA_REF;
        else if (!strcmp(force, "avx2"))
            want = RVT_ISA_AVX2;
        else if (!strcmp(force, "avx512"))
            want = RVT_ISA_AVX512;
        if (want < isa)
            isa = want;
    }
    g_isa = isa;
}

enum rvt_isa rvt_cpu_isa(void)
{
    pthread_once(&g_once, detect);
    return g_isa;
}

const char *rvt_isa_name(enum rvt_isa isa)
{
    switch (isa) {
    case RVT_ISA_REF: return "ref (portable C)";
    case RVT_ISA_AVX2: return "avx2";
    case RVT_ISA_AVX512: return "avx512-vnni";
    }
    return "?";
}

/* Cores that OpenBLAS picks when it does not recognise a newer CPU. */
static bool weak_core(const char *name)
{
    static const char *const weak[] = {"prescott", "core2", "penryn", "dunnington", "nehalem",
                                       "atom", "katmai", "coppermine", "northwood", "banias",
                                       "sandybridge", "unknown"};
    size_t i;
    for (i = 0; i < RVT_ARRAY_SIZE(weak); i++)
        if (!strcasecmp(name, weak[i]))
            return true;
    return false;
}

void rvt_blas_fix_coretype(char **argv)
{
    const char *want = NULL;
    char exe[4096];
    ssize_t n;

    if (getenv("OPENBLAS_CORETYPE") || getenv("RVT_BLAS_REEXEC"))
        return;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
        want = "SkylakeX";
    else if (__builtin_cpu_supports("avx2"))
        want = "Haswell";
    if (!want || !rvt_blas_linked() || !weak_core(openblas_get_corename()))
        return;
    n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        return;
    exe[n] = '\0';
    setenv("OPENBLAS_CORETYPE", want, 1);
    setenv("RVT_BLAS_REEXEC", "1", 1); /* never loop */
    execv(exe, argv);
    /* exec failed: carry on with the slow kernels */
    unsetenv("OPENBLAS_CORETYPE");
}

bool rvt_blas_linked(void)
{
    return openblas_get_corename != NULL;
}

const char *rvt_blas_corename(void)
{
    return rvt_blas_linked() ? openblas_get_corename() : "(not linked)";
}

const char *rvt_blas_config(void)
{
    return rvt_blas_linked() ? openblas_get_config() : "(not linked)";
}

void rvt_blas_set_threads(int n)
{
    if (rvt_blas_linked())
        openblas_set_num_threads(n > 0 ? n : 1);
}
