/* Which libgearman this extension was built against and which one the loader gave it
   (library.c); gearman_xs/_library.py compares the two at import. */
#ifndef GXS_LIBRARY_H
#define GXS_LIBRARY_H

#include <stddef.h>
#include <stdint.h>

struct dl_phdr_info;

/* The libgearman file the build linked (build_ffi.py passes it as GXS_BUILD_LIBGEARMAN);
   "" when the build could not tell. */
const char *gxs_build_libgearman(void);

/* Copies the path of the loaded object that holds gearman_version() into buf (truncated to
   size - 1 bytes); 0 if found, -1 if not. */
int gxs_loaded_libgearman(char *buf, size_t size);

/* 1 if the loaded libgearman has a DT_NEEDED entry starting with `prefix` (e.g. "libssl."),
   0 if not, -1 if its dynamic section could not be read. */
int gxs_libgearman_needs(const char *prefix);

/* What gxs_lib_object() tells of the loaded libgearman. */
struct gxs_lib_map {
    uintptr_t lo, hi;       /* its mapped range (PT_LOAD segments) */
    const void *dynamic;    /* its PT_DYNAMIC program header (const ElfW(Phdr) *), or 0 */
    const void *relro;      /* its PT_GNU_RELRO program header, or 0 */
};

/* For a dl_iterate_phdr() callback (library.c, socket_buffers.c): 1 if the object `info` is the
   loaded libgearman (its PT_LOAD segments contain gearman_version()), with `map` filled in and
   its path copied into `path` (truncated to path_size - 1 bytes); 0 if it is another object. */
int gxs_lib_object(const struct dl_phdr_info *info, struct gxs_lib_map *map, char *path,
                   size_t path_size);

#endif
