#include <hdf5.h>

/* Swift cannot import HDF5's macros that expand to casts or to global ids behind H5open(),
   so each one the wrapper needs gets an accessor. */

static inline hid_t facet_h5p_default(void) { return H5P_DEFAULT; }
static inline hid_t facet_h5s_all(void) { return H5S_ALL; }
static inline hid_t facet_h5e_default(void) { return H5E_DEFAULT; }

static inline unsigned facet_h5f_acc_trunc(void) { return H5F_ACC_TRUNC; }
static inline unsigned facet_h5f_acc_rdonly(void) { return H5F_ACC_RDONLY; }

static inline hid_t facet_h5p_file_access(void) { return H5P_FILE_ACCESS; }
static inline hid_t facet_h5p_file_create(void) { return H5P_FILE_CREATE; }
static inline hid_t facet_h5p_link_create(void) { return H5P_LINK_CREATE; }

static inline hid_t facet_h5t_c_s1(void) { return H5T_C_S1; }
static inline hid_t facet_h5t_native_float(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t facet_h5t_native_double(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t facet_h5t_native_int64(void) { return H5T_NATIVE_INT64; }
static inline hid_t facet_h5t_native_uint64(void) { return H5T_NATIVE_UINT64; }
static inline hid_t facet_h5t_ieee_f32le(void) { return H5T_IEEE_F32LE; }
static inline hid_t facet_h5t_ieee_f64le(void) { return H5T_IEEE_F64LE; }
static inline hid_t facet_h5t_std_i64le(void) { return H5T_STD_I64LE; }
static inline hid_t facet_h5t_std_u64le(void) { return H5T_STD_U64LE; }
