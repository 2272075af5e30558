/* The socket-buffer lift (used by gearman_xs/socket_buffers.py).

   libgearman 1.1.20 calls setsockopt(SOL_SOCKET, SO_SNDBUF/SO_RCVBUF, 32768) on every connection it
   opens (hard-coded, no API). These functions redirect libgearman's own GOT/PLT slot for setsockopt
   (and only that library's slot: libc and every other library are untouched) to gxs_sb_wrapper,
   which ignores exactly those two calls and forwards everything else. The slots are found with
   dl_iterate_phdr() and the library's dynamic section. See socket_buffers.py and the README. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE   /* dl_iterate_phdr (Python.h defines it in the generated module) */
#endif
#include <link.h>
#include <elf.h>
#include <string.h>
#include <stdint.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <libgearman-1.0/gearman.h>

#include "library.h"
#include "socket_buffers.h"

#define GXS_SB_MAX_SLOTS 4

typedef int (*gxs_sb_fn)(int, int, int, const void *, socklen_t);

static void **gxs_sb_slots[GXS_SB_MAX_SLOTS];   /* libgearman's GOT entries for setsockopt */
static void *gxs_sb_saved[GXS_SB_MAX_SLOTS];    /* their contents before the first write */
static int gxs_sb_slot_relro[GXS_SB_MAX_SLOTS]; /* slot lies in PT_GNU_RELRO (read-only after load) */
static int gxs_sb_nslots = 0;
static int gxs_sb_initialized = 0;
static int gxs_sb_init_status = GXS_SB_NOT_INITIALIZED;
static gxs_sb_fn gxs_sb_forward = 0;            /* the real setsockopt */
static unsigned long gxs_sb_ignored = 0;
static char gxs_sb_path[1024];

static int gxs_sb_wrapper(int fd, int level, int name, const void *value, socklen_t length)
{
    if (level == SOL_SOCKET && (name == SO_SNDBUF || name == SO_RCVBUF)) {
        __atomic_add_fetch(&gxs_sb_ignored, 1, __ATOMIC_RELAXED);
        return 0;
    }
    return gxs_sb_forward(fd, level, name, value, length);
}

#if defined(__x86_64__) || defined(__aarch64__)
#  if defined(__x86_64__)
#    define GXS_SB_JUMP_SLOT R_X86_64_JUMP_SLOT
#    define GXS_SB_GLOB_DAT R_X86_64_GLOB_DAT
#  else
#    define GXS_SB_JUMP_SLOT R_AARCH64_JUMP_SLOT
#    define GXS_SB_GLOB_DAT R_AARCH64_GLOB_DAT
#  endif

struct gxs_sb_search {
    const char *symbol;
    int found_library;
    int status;
    int nslots;
    void **slots[GXS_SB_MAX_SLOTS];
    int relro[GXS_SB_MAX_SLOTS];
    void *saved[GXS_SB_MAX_SLOTS];
    uintptr_t lo, hi;             /* libgearman's mapped range (PT_LOAD segments) */
    char path[1024];
};

/* d_ptr values are already relocated by glibc's loader, but not by every loader (musl): accept both. */
static uintptr_t gxs_sb_ptr(uintptr_t base, uintptr_t value, uintptr_t lo, uintptr_t hi)
{
    if (value >= lo && value < hi)
        return value;
    if (base + value >= lo && base + value < hi)
        return base + value;
    return 0;
}

static void gxs_sb_scan(struct gxs_sb_search *s, const struct dl_phdr_info *info,
                        const ElfW(Rela) *rel, size_t size, const ElfW(Sym) *symtab,
                        const char *strtab, size_t strsz,
                        const ElfW(Phdr) *relro_ph)
{
    size_t i, n = size / sizeof(ElfW(Rela));
    for (i = 0; i < n; i++) {
        unsigned long type = ELF64_R_TYPE(rel[i].r_info);
        unsigned long sym = ELF64_R_SYM(rel[i].r_info);
        uintptr_t slot;
        if ((type != GXS_SB_JUMP_SLOT && type != GXS_SB_GLOB_DAT) || sym == 0)
            continue;
        if (symtab[sym].st_name >= strsz || strcmp(strtab + symtab[sym].st_name, s->symbol) != 0)
            continue;
        slot = info->dlpi_addr + rel[i].r_offset;
        if (slot < s->lo || slot + sizeof(void *) > s->hi || (slot % sizeof(void *)) != 0)
            continue;
        if (s->nslots >= GXS_SB_MAX_SLOTS)
            return;
        s->slots[s->nslots] = (void **)slot;
        s->saved[s->nslots] = __atomic_load_n((void **)slot, __ATOMIC_ACQUIRE);
        s->relro[s->nslots] = relro_ph != 0
            && slot >= info->dlpi_addr + relro_ph->p_vaddr
            && slot < info->dlpi_addr + relro_ph->p_vaddr + relro_ph->p_memsz;
        s->nslots++;
    }
}

static int gxs_sb_visit(struct dl_phdr_info *info, size_t info_size, void *data)
{
    struct gxs_sb_search *s = (struct gxs_sb_search *)data;
    struct gxs_lib_map map;
    const ElfW(Phdr) *dyn_ph, *relro_ph;
    const ElfW(Dyn) *dyn;
    uintptr_t lo, hi;
    uintptr_t jmprel = 0, rela = 0, symtab = 0, strtab = 0;
    size_t pltrelsz = 0, relasz = 0, strsz = 0;
    long pltrel = DT_RELA;
    (void)info_size;

    if (!gxs_lib_object(info, &map, s->path, sizeof(s->path)))
        return 0;                 /* not libgearman: keep looking */
    s->found_library = 1;
    lo = s->lo = map.lo;
    hi = s->hi = map.hi;
    dyn_ph = (const ElfW(Phdr) *)map.dynamic;
    relro_ph = (const ElfW(Phdr) *)map.relro;
    if (dyn_ph == 0) {
        s->status = GXS_SB_NO_DYNAMIC;
        return 1;
    }
    for (dyn = (const ElfW(Dyn) *)(info->dlpi_addr + dyn_ph->p_vaddr); dyn->d_tag != DT_NULL; dyn++) {
        switch (dyn->d_tag) {
        case DT_JMPREL: jmprel = gxs_sb_ptr(info->dlpi_addr, dyn->d_un.d_ptr, lo, hi); break;
        case DT_PLTRELSZ: pltrelsz = dyn->d_un.d_val; break;
        case DT_PLTREL: pltrel = (long)dyn->d_un.d_val; break;
        case DT_RELA: rela = gxs_sb_ptr(info->dlpi_addr, dyn->d_un.d_ptr, lo, hi); break;
        case DT_RELASZ: relasz = dyn->d_un.d_val; break;
        case DT_SYMTAB: symtab = gxs_sb_ptr(info->dlpi_addr, dyn->d_un.d_ptr, lo, hi); break;
        case DT_STRTAB: strtab = gxs_sb_ptr(info->dlpi_addr, dyn->d_un.d_ptr, lo, hi); break;
        case DT_STRSZ: strsz = dyn->d_un.d_val; break;
        default: break;
        }
    }
    if (symtab == 0 || strtab == 0 || strsz == 0) {
        s->status = GXS_SB_NO_DYNAMIC;
        return 1;
    }
    if (jmprel != 0 && pltrel == DT_RELA)
        gxs_sb_scan(s, info, (const ElfW(Rela) *)jmprel, pltrelsz, (const ElfW(Sym) *)symtab,
                    (const char *)strtab, strsz, relro_ph);
    if (rela != 0)
        gxs_sb_scan(s, info, (const ElfW(Rela) *)rela, relasz, (const ElfW(Sym) *)symtab,
                    (const char *)strtab, strsz, relro_ph);
    s->status = s->nslots > 0 ? GXS_SB_OK : GXS_SB_SLOT_NOT_FOUND;
    return 1;
}

static int gxs_sb_search_for(const char *symbol, struct gxs_sb_search *s)
{
    memset(s, 0, sizeof(*s));
    s->symbol = symbol;
    s->status = GXS_SB_LIBRARY_NOT_FOUND;
    dl_iterate_phdr(gxs_sb_visit, s);
    return s->status;
}
#else
struct gxs_sb_search { int nslots; void **slots[1]; int relro[1]; void *saved[1]; uintptr_t lo, hi;
                       char path[1024]; };
static int gxs_sb_search_for(const char *symbol, struct gxs_sb_search *s)
{
    (void)symbol;
    memset(s, 0, sizeof(*s));
    return GXS_SB_UNSUPPORTED;
}
#endif

/* Finds how many GOT slots libgearman has for `symbol` without changing anything (diagnostics, tests). */
int gxs_sb_probe(const char *symbol, int *nslots)
{
    struct gxs_sb_search s;
    int status = gxs_sb_search_for(symbol, &s);
    *nslots = s.nslots;
    return status;
}

/* Locates libgearman's setsockopt slots once; later calls return the first result. */
int gxs_sb_init(void)
{
    struct gxs_sb_search s;
    int i;
    if (gxs_sb_initialized)
        return gxs_sb_init_status;
    gxs_sb_initialized = 1;
    gxs_sb_forward = (gxs_sb_fn)&setsockopt;
    gxs_sb_init_status = gxs_sb_search_for("setsockopt", &s);
    if (gxs_sb_init_status != GXS_SB_OK)
        return gxs_sb_init_status;
    gxs_sb_nslots = s.nslots;
    for (i = 0; i < s.nslots; i++) {
        gxs_sb_slots[i] = s.slots[i];
        gxs_sb_slot_relro[i] = s.relro[i];
        /* A lazily bound slot (no BIND_NOW) still points into libgearman's own PLT: calling that
           would re-resolve and overwrite the slot, so the wrapper forwards to setsockopt itself.
           A bound slot keeps what the loader (or an earlier interposer) put there. */
        gxs_sb_saved[i] = s.saved[i];
        if (((uintptr_t)s.saved[i] < s.lo || (uintptr_t)s.saved[i] >= s.hi)
            && s.saved[i] != (void *)&gxs_sb_wrapper && s.saved[i] != 0)
            gxs_sb_forward = (gxs_sb_fn)s.saved[i];
    }
    memcpy(gxs_sb_path, s.path, sizeof(gxs_sb_path));
    gxs_sb_path[sizeof(gxs_sb_path) - 1] = 0;
    return GXS_SB_OK;
}

static int gxs_sb_write(int i, void *value)
{
    long page = sysconf(_SC_PAGESIZE);
    uintptr_t start;
    if (page <= 0)
        page = 4096;
    start = (uintptr_t)gxs_sb_slots[i] & ~((uintptr_t)page - 1);
    if (gxs_sb_slot_relro[i]) {
        if (mprotect((void *)start, (size_t)page, PROT_READ | PROT_WRITE) != 0)
            return GXS_SB_MPROTECT_FAILED;
    }
    __atomic_store_n(gxs_sb_slots[i], value, __ATOMIC_RELEASE);
    if (gxs_sb_slot_relro[i])
        mprotect((void *)start, (size_t)page, PROT_READ);
    return __atomic_load_n(gxs_sb_slots[i], __ATOMIC_ACQUIRE) == value ? GXS_SB_OK : GXS_SB_VERIFY_FAILED;
}

/* lift != 0: the slots point at gxs_sb_wrapper; lift == 0: back to what the loader put there. */
int gxs_sb_set_lifted(int lift)
{
    int i, status = gxs_sb_init();
    if (status != GXS_SB_OK)
        return status;
    for (i = 0; i < gxs_sb_nslots; i++) {
        status = gxs_sb_write(i, lift ? (void *)&gxs_sb_wrapper : gxs_sb_saved[i]);
        if (status != GXS_SB_OK) {
            int j;
            for (j = 0; j < i; j++)           /* all or nothing */
                gxs_sb_write(j, lift ? gxs_sb_saved[j] : (void *)&gxs_sb_wrapper);
            return status;
        }
    }
    return GXS_SB_OK;
}

/* Reads the slots back: 1 all point at the wrapper, 0 none does, -1 mixed or not initialized. */
int gxs_sb_is_lifted(void)
{
    int i, lifted = 0;
    if (!gxs_sb_initialized || gxs_sb_init_status != GXS_SB_OK || gxs_sb_nslots == 0)
        return -1;
    for (i = 0; i < gxs_sb_nslots; i++)
        if (__atomic_load_n(gxs_sb_slots[i], __ATOMIC_ACQUIRE) == (void *)&gxs_sb_wrapper)
            lifted++;
    return lifted == gxs_sb_nslots ? 1 : lifted == 0 ? 0 : -1;
}

unsigned long gxs_sb_ignored_calls(void)
{
    return __atomic_load_n(&gxs_sb_ignored, __ATOMIC_RELAXED);
}

int gxs_sb_slot_count(void) { return gxs_sb_nslots; }
const char *gxs_sb_library(void) { return gxs_sb_path; }

/* For other shims (conn_watch.c): points every libgearman GOT slot for `symbol` at `replacement`,
   for good. *original is set to what a bound slot held when that lies outside libgearman (the
   loader's or an earlier interposer's function) and is left alone otherwise (a lazily bound slot
   points into libgearman's own PLT: the caller's default, the libc function, applies). */
int gxs_sb_redirect(const char *symbol, void *replacement, void **original)
{
    struct gxs_sb_search s;
    long page = sysconf(_SC_PAGESIZE);
    int i, status = gxs_sb_search_for(symbol, &s);
    if (status != GXS_SB_OK)
        return status;
    if (page <= 0)
        page = 4096;
    for (i = 0; i < s.nslots; i++)
        if (((uintptr_t)s.saved[i] < s.lo || (uintptr_t)s.saved[i] >= s.hi)
            && s.saved[i] != replacement && s.saved[i] != 0)
            *original = s.saved[i];
    for (i = 0; i < s.nslots; i++) {
        uintptr_t start = (uintptr_t)s.slots[i] & ~((uintptr_t)page - 1);
        if (s.relro[i] && mprotect((void *)start, (size_t)page, PROT_READ | PROT_WRITE) != 0)
            return GXS_SB_MPROTECT_FAILED;
        __atomic_store_n(s.slots[i], replacement, __ATOMIC_RELEASE);
        if (s.relro[i])
            mprotect((void *)start, (size_t)page, PROT_READ);
    }
    return GXS_SB_OK;
}
