// Types and prototypes only; the symbols are resolved at run time with dlsym.
#include <cblas.h>
#include <cpuid.h>

// CPU features that decide which OpenBLAS kernel core is fastest here: the instruction set
// (cpuid) and whether the OS saves the wide registers (xgetbv).
static inline unsigned long long facet_xgetbv0(void) {
    unsigned int eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((unsigned long long)edx << 32) | eax;
}

static inline int facet_cpu_has_osxsave(void) {
    unsigned int a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    return (c >> 27) & 1;
}

static inline int facet_cpu_has_avx2(void) {
    unsigned int a, b, c, d;
    if (!facet_cpu_has_osxsave() || (facet_xgetbv0() & 0x6) != 0x6) return 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    return (b >> 5) & 1;
}

static inline int facet_cpu_has_avx512f(void) {
    unsigned int a, b, c, d;
    if (!facet_cpu_has_osxsave() || (facet_xgetbv0() & 0xE6) != 0xE6) return 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    return (b >> 16) & 1;
}

// bfloat16 dot-product instructions (AVX512_BF16: cpuid leaf 7, subleaf 1, eax bit 5) and AMX
// bfloat16 tiles (leaf 7, subleaf 0, edx bit 22): the bfloat16 GEMM path needs one of them.
static inline int facet_cpu_has_avx512_bf16(void) {
    unsigned int a, b, c, d;
    if (!facet_cpu_has_avx512f()) return 0;
    if (!__get_cpuid_count(7, 1, &a, &b, &c, &d)) return 0;
    return (a >> 5) & 1;
}

// AVX512BW and AVX512VL (leaf 7, subleaf 0, ebx bits 30, 31): 16-bit lanes and narrower
// vectors, which attention's bfloat16 packing uses.
static inline int facet_cpu_has_avx512bw_vl(void) {
    unsigned int a, b, c, d;
    if (!facet_cpu_has_avx512f()) return 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    return (b >> 30) == 3;
}

static inline int facet_cpu_has_amx_bf16(void) {
    unsigned int a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    return (d >> 22) & 1;
}
