#ifndef TOWERPLAN_CMPI_SHIM_H
#define TOWERPLAN_CMPI_SHIM_H
#include <mpi.h>

/* Open MPI defines its predefined handles as macros over addresses of global objects
   (e.g. MPI_COMM_WORLD is ((MPI_Comm)&ompi_mpi_comm_world)); Swift imports neither.
   These inline functions give Swift a way to name them. */
static inline MPI_Comm tp_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Comm tp_mpi_comm_null(void) { return MPI_COMM_NULL; }
static inline MPI_Datatype tp_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype tp_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype tp_mpi_int32(void) { return MPI_INT32_T; }
static inline MPI_Datatype tp_mpi_int64(void) { return MPI_INT64_T; }
static inline MPI_Datatype tp_mpi_byte(void) { return MPI_BYTE; }
static inline MPI_Op tp_mpi_sum(void) { return MPI_SUM; }
static inline MPI_Op tp_mpi_max(void) { return MPI_MAX; }
static inline MPI_Errhandler tp_mpi_errors_return(void) { return MPI_ERRORS_RETURN; }
static inline int tp_mpi_undefined(void) { return MPI_UNDEFINED; }
static inline void *tp_mpi_in_place(void) { return MPI_IN_PLACE; }
/* MPI_MAX_ERROR_STRING is a macro over another macro, which Swift does not import. */
static inline int tp_mpi_max_error_string(void) { return MPI_MAX_ERROR_STRING; }
#endif
