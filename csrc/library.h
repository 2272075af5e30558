/* Which libgearman this extension was built against and which one the loader gave it
   (library.c); gearman_xs/_library.py compares the two at import. */
#ifndef GXS_LIBRARY_H
#define GXS_LIBRARY_H

#include <stddef.h>

/* The libgearman file the build linked (build_ffi.py passes it as GXS_BUILD_LIBGEARMAN);
   "" when the build could not tell. */
const char *gxs_build_libgearman(void);

/* Copies the path of the loaded object that holds gearman_version() into buf (truncated to
   size - 1 bytes); 0 if found, -1 if not. */
int gxs_loaded_libgearman(char *buf, size_t size);

/* 1 if the loaded libgearman has a DT_NEEDED entry starting with `prefix` (e.g. "libssl."),
   0 if not, -1 if its dynamic section could not be read. */
int gxs_libgearman_needs(const char *prefix);

#endif
