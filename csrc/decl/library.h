/* cffi cdef of ../library.h. */

const char *gxs_build_libgearman(void);
int gxs_loaded_libgearman(char *buf, size_t size);
int gxs_libgearman_needs(const char *prefix);
