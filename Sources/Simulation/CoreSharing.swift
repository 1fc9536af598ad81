/// Times a step of synchronous single-threaded ranks that time-share fewer cores than there are
/// ranks (`Cluster.sharedCores`): `StepModel`'s serialized mode on such a cluster.
///
/// Each rank runs its tasks in plan order on one thread. A compute task needs its seconds of CPU
/// (the calibrated rates are rates on a core, `Calibration`); a collective starts for a group when
/// its last member arrives and holds every member for its seconds. The cores are shared as a fair
/// scheduler shares them over time (processor sharing): while n ranks compute on c < n cores, each
/// progresses at c / n of a core, and a rank that waits in a collective leaves its core to the
/// others. So ranks that arrive early at a collective lend their core to the late ones, and a
/// rank's compute stretches while others compute beside it — the two effects list scheduling with
/// one core per rank cannot show. What it leaves out: the CPU the collectives themselves use
/// (copies, the TCP stack, MPI's polling while it yields) and the latency of one scheduler slice
/// before a woken rank runs.
///
/// Cost: O(events · ranks), at most two events per task and rank.
struct CoreSharing {
    enum Task {
        /// CPU seconds on one core, per rank.
        case compute([Double])
        /// Disjoint groups of ranks (a rank in none skips it) and the seconds each group takes.
        case collective(groups: [[Int]], seconds: Double)
    }

    /// Per task and rank: start, finish, whether the rank took part, and the (task, rank) packed as
    /// task << 32 | rank that set the start (−1 for none) — `StepModel`'s timeline arrays.
    struct Timeline {
        var start: [[Double]]
        var finish: [[Double]]
        var active: [[Bool]]
        var cause: [[Int64]]
    }

    let cores: Int
    let ranks: Int

    private enum State {
        case computing(remaining: Double)
        case waiting
        case transferring(until: Double)
        case done
    }

    static func pack(_ task: Int, _ rank: Int) -> Int64 { Int64(task) << 32 | Int64(rank) }

    /// Times `tasks` (one plan, the same order on every rank); a non-finite or negative duration is
    /// an error naming the task.
    func schedule(_ tasks: [Task]) throws(SimulationError) -> Timeline {
        for (index, task) in tasks.enumerated() {
            let seconds: [Double]
            switch task {
            case .compute(let perRank): seconds = perRank
            case .collective(_, let duration): seconds = [duration]
            }
            if let bad = seconds.first(where: { !$0.isFinite || $0 < 0 }) {
                throw SimulationError("task \(index) lasts \(bad) s: a duration must be finite and not negative (check the accelerator model's rates)")
            }
        }
        let blank = [Double](repeating: 0, count: ranks)
        var timeline = Timeline(
            start: [[Double]](repeating: blank, count: tasks.count), finish: [[Double]](repeating: blank, count: tasks.count),
            active: [[Bool]](repeating: [Bool](repeating: false, count: ranks), count: tasks.count),
            cause: [[Int64]](repeating: [Int64](repeating: -1, count: ranks), count: tasks.count))
        // The group of each rank in each collective (−1: not a member).
        let groupOf = tasks.map { task -> [Int] in
            var group = [Int](repeating: -1, count: ranks)
            if case .collective(let groups, _) = task {
                for (index, members) in groups.enumerated() { for member in members { group[member] = index } }
            }
            return group
        }
        var next = [Int](repeating: 0, count: ranks)
        var previous = [Int64](repeating: -1, count: ranks)
        var state = [State](repeating: .done, count: ranks)
        // Arrivals per task and group: how many members are in, and the latest one's predecessor.
        var arrived: [Int: [Int: (count: Int, by: Int64)]] = [:]
        var clock = 0.0

        /// Moves `rank` from its finished task to the next one that holds it, at `clock`.
        func advance(_ rank: Int) {
            while next[rank] < tasks.count {
                let task = next[rank]
                timeline.start[task][rank] = clock
                timeline.finish[task][rank] = clock
                timeline.cause[task][rank] = previous[rank]
                switch tasks[task] {
                case .compute(let seconds):
                    timeline.active[task][rank] = true
                    if seconds[rank] > 0 {
                        state[rank] = .computing(remaining: seconds[rank])
                        return
                    }
                    previous[rank] = Self.pack(task, rank)
                case .collective(let groups, let seconds):
                    let group = groupOf[task][rank]
                    if group >= 0 {
                        var entry = arrived[task, default: [:]][group, default: (0, -1)]
                        entry.count += 1
                        entry.by = previous[rank]
                        arrived[task, default: [:]][group] = entry
                        state[rank] = .waiting
                        guard entry.count == groups[group].count else { return }
                        for member in groups[group] {
                            timeline.start[task][member] = clock
                            timeline.finish[task][member] = clock + seconds
                            timeline.active[task][member] = true
                            timeline.cause[task][member] = entry.by
                            state[member] = .transferring(until: clock + seconds)
                        }
                        return
                    }
                }
                next[rank] += 1
            }
            state[rank] = .done
        }

        for rank in 0 ..< ranks { advance(rank) }
        while true {
            var computing = 0, firstCompletion = Double.infinity, firstTransferEnd = Double.infinity, running = false
            for rank in 0 ..< ranks {
                switch state[rank] {
                case .computing(let remaining):
                    computing += 1
                    firstCompletion = min(firstCompletion, remaining)
                    running = true
                case .transferring(let until):
                    firstTransferEnd = min(firstTransferEnd, until)
                    running = true
                case .waiting:
                    running = true
                case .done: break
                }
            }
            guard running else { break }
            let share = computing > cores ? Double(cores) / Double(computing) : 1
            let computeEnd = clock + firstCompletion / share
            // Every rank takes the tasks in the same order, so the earliest collective anyone waits
            // in has its other members still computing or transferring: something always ends.
            precondition(computeEnd.isFinite || firstTransferEnd.isFinite, "CoreSharing: ranks wait with nothing running")
            let computeFirst = computeEnd <= firstTransferEnd
            let elapsed = (computeFirst ? computeEnd : firstTransferEnd) - clock
            clock += elapsed
            var finished: [Int] = []
            for rank in 0 ..< ranks {
                switch state[rank] {
                case .computing(let remaining):
                    // Every computing rank runs at the same share, so the ones with the least left
                    // finish together.
                    if computeFirst && remaining <= firstCompletion {
                        finished.append(rank)
                    } else {
                        state[rank] = .computing(remaining: max(remaining - elapsed * share, 0))
                    }
                case .transferring(let until) where until <= clock:
                    finished.append(rank)
                default: break
                }
            }
            for rank in finished {
                let task = next[rank]
                timeline.finish[task][rank] = max(timeline.finish[task][rank], clock)
                previous[rank] = Self.pack(task, rank)
                next[rank] += 1
                advance(rank)
            }
        }
        return timeline
    }
}
