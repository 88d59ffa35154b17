/*
 * cpu.h: CPU features, the kernel level used for dispatch, and OpenBLAS setup.
 *
 * rvt_cpu_isa() is the best level this CPU and OS support, lowered by the
 * environment variable RVT_ISA=ref|avx2|avx512 (never raised).  It is computed
 * once (thread-safe) and read-only after.
 *
 * Debian's OpenBLAS 0.3.21 mistakes newer Xeons for "Prescott" and runs SSE3
 * kernels (7x slower sgemm).  It reads OPENBLAS_CORETYPE when the library loads,
 * before main, so rvt_blas_fix_coretype(argv) re-executes the program once with
 * OPENBLAS_CORETYPE set when the detected core is weaker than the CPU.  Users who
 * set OPENBLAS_CORETYPE themselves are left alone.
 */
#ifndef RVT_CORE_CPU_H
#define RVT_CORE_CPU_H

#include "core/common.h"

enum rvt_isa {
    RVT_ISA_REF = 0,    /* portable C */
    RVT_ISA_AVX2 = 1,   /* AVX2 + FMA */
    RVT_ISA_AVX512 = 2, /* AVX-512 F/BW/VL/DQ + VNNI */
};

enum rvt_isa rvt_cpu_isa(void);
const char *rvt_isa_name(enum rvt_isa isa);

/* Call first thing in main of tools that use BLAS. */
void rvt_blas_fix_coretype(char **argv);
/* Whether this program links OpenBLAS (tools without GEMM do not). */
bool rvt_blas_linked(void);
/* Which kernels OpenBLAS runs, e.g. "SkylakeX"; and its build config string. */
const char *rvt_blas_corename(void);
const char *rvt_blas_config(void);
/* OpenBLAS thread count (1 when our own workers own the cores). */
void rvt_blas_set_threads(int n);

#endif
