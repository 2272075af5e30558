/* Which libgearman this extension was built against and which one got loaded (used by
   gearman_xs/_library.py and gearman_xs/_features.py).

   The loaded library is the object whose PT_LOAD segments contain gearman_version(), found through
   dl_iterate_phdr() (in libc; dladdr() would need -ldl on older glibc) by gxs_lib_object(), which
   socket_buffers.c uses too. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE   /* dl_iterate_phdr (Python.h defines it in the generated module) */
#endif
#include <link.h>
#include <stdint.h>
#include <string.h>
#include <libgearman-1.0/gearman.h>

#include "library.h"

#ifndef GXS_BUILD_LIBGEARMAN
#define GXS_BUILD_LIBGEARMAN ""
#endif

const char *gxs_build_libgearman(void)
{
    return GXS_BUILD_LIBGEARMAN;
}

int gxs_lib_object(const struct dl_phdr_info *info, struct gxs_lib_map *map, char *path,
                   size_t path_size)
{
    uintptr_t anchor = (uintptr_t)&gearman_version;
    int i, contains = 0;

    memset(map, 0, sizeof(*map));
    map->lo = UINTPTR_MAX;
    for (i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD) {
            uintptr_t start = info->dlpi_addr + ph->p_vaddr, end = start + ph->p_memsz;
            if (start < map->lo) map->lo = start;
            if (end > map->hi) map->hi = end;
            if (anchor >= start && anchor < end) contains = 1;
        } else if (ph->p_type == PT_DYNAMIC) {
            map->dynamic = ph;
        } else if (ph->p_type == PT_GNU_RELRO) {
            map->relro = ph;
        }
    }
    if (!contains)
        return 0;
    if (info->dlpi_name && path_size > 0) {
        strncpy(path, info->dlpi_name, path_size - 1);
        path[path_size - 1] = 0;
    }
    return 1;
}

struct gxs_lib_search {
    const char *prefix;     /* gxs_libgearman_needs(): the DT_NEEDED prefix looked for */
    int found;
    int needs;
    char path[4096];
};

static int gxs_lib_visit(struct dl_phdr_info *info, size_t info_size, void *data)
{
    struct gxs_lib_search *s = (struct gxs_lib_search *)data;
    struct gxs_lib_map map;
    const ElfW(Dyn) *dyn = 0, *d;
    uintptr_t strtab = 0, lo, hi;
    (void)info_size;

    if (!gxs_lib_object(info, &map, s->path, sizeof(s->path)))
        return 0;
    s->found = 1;
    if (s->prefix == 0)
        return 1;
    s->needs = -1;
    if (map.dynamic == 0)
        return 1;
    dyn = (const ElfW(Dyn) *)(info->dlpi_addr + ((const ElfW(Phdr) *)map.dynamic)->p_vaddr);
    lo = map.lo;
    hi = map.hi;
    for (d = dyn; d->d_tag != DT_NULL; d++)
        if (d->d_tag == DT_STRTAB) {
            strtab = d->d_un.d_ptr;   /* relocated by glibc's loader, not by every loader */
            if (!(strtab >= lo && strtab < hi))
                strtab += info->dlpi_addr;
        }
    if (strtab < lo || strtab >= hi)
        return 1;
    s->needs = 0;
    for (d = dyn; d->d_tag != DT_NULL; d++)
        if (d->d_tag == DT_NEEDED
            && strncmp((const char *)(strtab + d->d_un.d_val), s->prefix, strlen(s->prefix)) == 0)
            s->needs = 1;
    return 1;
}

static void gxs_lib_search(struct gxs_lib_search *s, const char *prefix)
{
    memset(s, 0, sizeof(*s));
    s->prefix = prefix;
    dl_iterate_phdr(gxs_lib_visit, s);
}

int gxs_loaded_libgearman(char *buf, size_t size)
{
    struct gxs_lib_search s;
    gxs_lib_search(&s, 0);
    if (size == 0)
        return -1;
    strncpy(buf, s.path, size - 1);
    buf[size - 1] = 0;
    return s.found ? 0 : -1;
}

int gxs_libgearman_needs(const char *prefix)
{
    struct gxs_lib_search s;
    gxs_lib_search(&s, prefix);
    return s.found ? s.needs : -1;
}
