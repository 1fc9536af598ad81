/* What an MPI rank waiting in a collective costs the ranks that compute beside it, when ranks
 * outnumber cores and Open MPI yields while it waits (mpi_yield_when_idle, as `towerplan train
 * --ranks` sets it then). Every iteration, some ranks burn X ms of their own CPU time, then all
 * meet in a barrier; rank 0 prints the wall time per iteration and the CPU per rank, computing and
 * communicating apart. With c cores and k computing ranks, no cost means k·X/c per iteration.
 * Modes: all ranks compute; half compute; rank 0 alone computes.
 * Usage: yield-cost X_MS ITERATIONS (see run.sh). */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double seconds(clockid_t clock) {
    struct timespec now;
    clock_gettime(clock, &now);
    return now.tv_sec + now.tv_nsec * 1e-9;
}

static volatile double sink;

/* Spins until this thread has used `cpu` seconds of CPU. */
static void burn(double cpu) {
    double start = seconds(CLOCK_THREAD_CPUTIME_ID), x = 1;
    while (seconds(CLOCK_THREAD_CPUTIME_ID) - start < cpu)
        for (int i = 0; i < 1000; i++) x = x * 1.0000001 + 1e-9;
    sink = x;
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (argc != 3) {
        if (rank == 0) fprintf(stderr, "usage: yield-cost X_MS ITERATIONS\n");
        MPI_Finalize();
        return 2;
    }
    double x = atof(argv[1]) * 1e-3;
    int iterations = atoi(argv[2]);
    const char *modes[] = {"all ranks compute", "half compute", "rank 0 computes"};
    for (int mode = 0; mode < 3; mode++) {
        int computes = mode == 0 || (mode == 1 && rank < size / 2) || (mode == 2 && rank == 0);
        int computing = mode == 0 ? size : mode == 1 ? size / 2 : 1;
        MPI_Barrier(MPI_COMM_WORLD);
        double wall = seconds(CLOCK_MONOTONIC), cpu = seconds(CLOCK_PROCESS_CPUTIME_ID), computeCPU = 0;
        for (int i = 0; i < iterations; i++) {
            double start = seconds(CLOCK_PROCESS_CPUTIME_ID);
            if (computes) burn(x);
            computeCPU += seconds(CLOCK_PROCESS_CPUTIME_ID) - start;
            MPI_Barrier(MPI_COMM_WORLD);
        }
        double mine[3] = {(seconds(CLOCK_MONOTONIC) - wall) / iterations, (seconds(CLOCK_PROCESS_CPUTIME_ID) - cpu) / iterations,
                          computeCPU / iterations};
        double sum[3];
        MPI_Reduce(mine, sum, 3, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
        if (rank == 0)
            printf("%-18s %d ranks, %d computing %.2f ms each: %.3f ms per iteration; CPU per rank %.3f ms computing, %.3f ms in the barrier\n",
                   modes[mode], size, computing, x * 1e3, sum[0] / size * 1e3, sum[2] / size * 1e3, (sum[1] - sum[2]) / size * 1e3);
    }
    MPI_Finalize();
    return 0;
}
