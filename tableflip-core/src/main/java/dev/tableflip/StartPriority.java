package dev.tableflip;

import java.io.IOException;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.IntPredicate;
import java.util.function.LongPredicate;
import java.util.stream.Stream;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The CPU priority of a new process until it is ready: a higher nice value than the serving
 * process's, so that the new JVM's start and warm-up take the CPU the serving process leaves,
 * not its share; back to the serving process's nice value the moment it is ready, so that it
 * serves at full priority. The new process starts under {@code nice}, which execs the command
 * (same pid). Lowering a nice value again is a privilege: the new process can come back only
 * with {@code CAP_SYS_NICE} (root has it) or with an {@code RLIMIT_NICE} that allows the serving
 * process's value ({@code LimitNICE=} in a systemd unit). Without it the new process starts at
 * the serving process's priority: one left at a high nice value after ready would starve while
 * it serves. The old process, once it has handed over and has nothing left in flight, moves to
 * the start priority for its exit, so that the new process keeps the CPU it serves with.
 * <p>
 * A nice value sets a thread's share of the CPU, not how soon it gets it: a thread of the serving
 * process that wakes may wait for the slice of a lower-priority thread on its CPU to end (Linux's
 * EEVDF scheduler, 1.4 ms on 2 CPUs, often a 4 ms tick). So while another process runs beside
 * it, a serving process takes the shortest time slice the kernel gives (0.1 ms, Linux 6.12 and
 * later): a thread with a shorter slice than the running one takes the CPU as it wakes. The old
 * process from the new one's start at a lower priority until it stops serving (the new one
 * finishes compiling at full priority after ready, while the old one still serves through the
 * overlap, the probation and the drain), or until the upgrade fails or is rolled back; the new
 * process from ready until the old one has exited.
 */
final class StartPriority {

	private static final Logger logger = LoggerFactory.getLogger(StartPriority.class);

	/** The handoff's note that tells the new process the nice value to come back to at ready. */
	static final String NOTE = "process.nice-at-ready";

	private static final int CAP_SYS_NICE = 23;

	/** The shortest time slice Linux gives a normal thread (EEVDF clamps {@code sched_runtime} to 0.1 ms). */
	static final long SERVING_SLICE_NANOS = 100_000;

	private StartPriority() {
	}

	/**
	 * The command that starts the new process at {@code startNice} (with the note that brings it
	 * back at ready added to {@code notes}), or {@code command} itself when it should not or cannot.
	 */
	static List<String> command(List<String> command, int startNice, Map<String, String> notes) {
		if (startNice < 0) {
			return command;
		}
		int nice = nice(Path.of("/proc/self/stat"));
		if (nice >= startNice) {
			return command;
		}
		String cannot = cannotComeBackTo(nice);
		if (cannot != null) {
			logger.warn("Starting the new process at this process's priority (nice {}), not at nice {}: {}", nice,
					startNice, cannot);
			return command;
		}
		String niceCommand = Stream.of("/usr/bin/nice", "/bin/nice")
			.filter((candidate) -> Files.isExecutable(Path.of(candidate)))
			.findFirst()
			.orElse(null);
		if (niceCommand == null) {
			logger.warn("Starting the new process at this process's priority: there is no /usr/bin/nice (coreutils)");
			return command;
		}
		logger.info("Starting the new process at nice {} until it is ready (this process: nice {})", startNice, nice);
		notes.put(NOTE, Integer.toString(nice));
		List<String> niced = new ArrayList<>(List.of(niceCommand, "-n", Integer.toString(startNice - nice)));
		niced.addAll(command);
		return niced;
	}

	/**
	 * In a new process that is ready: every thread back to the nice value the note names, if
	 * any, so that it serves at the old process's priority.
	 * @return whether this process started at a lower priority than the old one
	 */
	static boolean restore(Map<String, String> notes) {
		String value = notes.get(NOTE);
		if (value == null) {
			return false;
		}
		int nice = Integer.parseInt(value);
		Set<String> failures = new LinkedHashSet<>();
		int changed = everyThreadTo(nice, (current) -> current != nice, failures);
		if (failures.isEmpty()) {
			logger.info("Back to nice {} now that this process is ready ({} threads)", nice, changed);
		}
		else {
			logger.warn("Could not bring every thread back to nice {} now that this process is ready; those left "
					+ "at a higher nice value get less CPU: {}", nice, failures);
		}
		return true;
	}

	/**
	 * In an old process that has nothing in flight and takes no more: every thread to {@code startNice} (the
	 * new processes' start priority), so that what is left of its exit (closing the application,
	 * the JVM's exit, the kernel freeing its memory) takes the CPU the new process leaves. Raising
	 * a nice value needs no privilege; threads already at a higher value keep theirs.
	 */
	static void lower(int startNice) {
		if (startNice < 0) {
			return;
		}
		Set<String> failures = new LinkedHashSet<>();
		int changed = everyThreadTo(startNice, (current) -> current < startNice, failures);
		if (failures.isEmpty()) {
			logger.info("Exiting at nice {} ({} threads), beside the new process at full priority", startNice,
					changed);
		}
		else {
			logger.warn("Could not move every thread to nice {} for the exit: {}", startNice, failures);
		}
	}

	/**
	 * In a process that serves beside one at a lower priority: every thread to the shortest time
	 * slice, so that a thread that wakes to serve takes its CPU from the other process's thread at
	 * once. A kernel before Linux 6.12 keeps its default slice, which the log says.
	 * @param beside the other process, for the log
	 */
	static void shortSlices(String beside) {
		String cannot = cannotSetSlices();
		if (cannot != null) {
			logger.info("Serving with the kernel's default time slices {}: {}", beside, cannot);
			return;
		}
		Set<String> failures = new LinkedHashSet<>();
		int changed = everyThreadToSlice(SERVING_SLICE_NANOS, (slice) -> slice != SERVING_SLICE_NANOS, failures);
		if (failures.isEmpty()) {
			logger.info("Serving with time slices of {} ms ({} threads) {}: a thread that wakes to serve takes the "
					+ "CPU from one at a lower priority at once", SERVING_SLICE_NANOS / 1e6, changed, beside);
		}
		else {
			logger.info("Serving with the kernel's default time slices {}: {}", beside, failures);
		}
	}

	/**
	 * Every thread that {@link #shortSlices} changed back to the kernel's default time slice;
	 * nothing, and no log line, where the kernel has no slice per thread.
	 */
	static void defaultSlices() {
		if (cannotSetSlices() != null) {
			return;
		}
		Set<String> failures = new LinkedHashSet<>();
		int changed = everyThreadToSlice(0, (slice) -> slice == SERVING_SLICE_NANOS, failures);
		if (!failures.isEmpty()) {
			logger.warn("Could not bring every thread back to the kernel's default time slice: {}", failures);
		}
		else if (changed > 0) {
			logger.info("Back to the kernel's default time slices ({} threads)", changed);
		}
	}

	/** Why this process's threads cannot take a time slice of their own, or {@code null} if they can. */
	private static String cannotSetSlices() {
		try {
			// Linux 6.12 and later report a normal thread's slice; earlier kernels report none.
			return (Native.slice(ProcessHandle.current().pid()) > 0) ? null
					: "the kernel has no time slice per thread (Linux 6.12 and later have)";
		}
		catch (IOException | RuntimeException | LinkageError ex) {
			return ex.toString();
		}
	}

	/** Sets every thread of this process whose time slice {@code needsChange} to {@code slice} (0: the default). */
	private static int everyThreadToSlice(long slice, LongPredicate needsChange, Set<String> failures) {
		return everyThreadSafely((tid, task) -> {
			if (!needsChange.test(Native.slice(tid))) {
				return false;
			}
			Native.setSlice(tid, nice(task.resolve("stat")), slice);
			return true;
		}, failures);
	}

	/**
	 * {@link #everyThread}, with what the native call may throw besides (a missing symbol, say)
	 * among the failures: a time slice is worth a log line, never an upgrade.
	 */
	private static int everyThreadSafely(ThreadChange change, Set<String> failures) {
		try {
			return everyThread(change, failures);
		}
		catch (RuntimeException | LinkageError ex) {
			failures.add(ex.toString());
			return 0;
		}
	}

	/** Sets every thread of this process whose nice value {@code needsChange} to {@code nice}. */
	private static int everyThreadTo(int nice, IntPredicate needsChange, Set<String> failures) {
		return everyThread((tid, task) -> {
			if (!needsChange.test(nice(task.resolve("stat")))) {
				return false;
			}
			Native.setNice(tid, nice);
			return true;
		}, failures);
	}

	/** One thread's change in a pass over this process's threads. */
	private interface ThreadChange {

		/** @return whether the thread needed the change */
		boolean apply(long tid, Path task) throws IOException;

	}

	/**
	 * Applies {@code change} to every thread of this process. A thread inherits its creator's
	 * scheduling, so a pass may meet threads that a thread not yet changed created meanwhile:
	 * passes repeat until one finds nothing to change.
	 * @return how many threads changed
	 */
	private static int everyThread(ThreadChange change, Set<String> failures) {
		int changed = 0;
		for (int pass = 0; pass < 5; pass++) {
			int changedInPass = 0;
			try (Stream<Path> tasks = Files.list(Path.of("/proc/self/task"))) {
				for (Path task : tasks.toList()) {
					try {
						if (change.apply(Long.parseLong(task.getFileName().toString()), task)) {
							changedInPass++;
						}
					}
					catch (IOException | IllegalStateException ex) {
						if (Files.exists(task)) { // a thread that ended meanwhile has nothing to change
							failures.add(ex.getMessage());
						}
					}
				}
			}
			catch (IOException ex) {
				failures.add("cannot list this process's threads: " + ex.getMessage());
			}
			changed += changedInPass;
			if (changedInPass == 0 || !failures.isEmpty()) {
				break;
			}
		}
		return changed;
	}

	/** Why this process's children could not come back to {@code nice}, or {@code null} if they can. */
	static String cannotComeBackTo(int nice) {
		if (hasCapability(CAP_SYS_NICE)) { // root has it, unless a container or a unit drops it
			return null;
		}
		long limit = Native.niceLimit();
		if (limit >= 20 - nice) {
			return null;
		}
		String allows = (limit <= 1) ? "which allows no lower nice value"
				: "which allows nice values down to " + (20 - limit);
		return "it could not come back to nice " + nice + " when it is ready: RLIMIT_NICE is " + limit + ", "
				+ allows + ", and the process has no CAP_SYS_NICE. Under systemd, set LimitNICE=+" + nice
				+ " in the unit (ulimit -e " + (20 - nice) + " in a shell)";
	}

	private static boolean hasCapability(int capability) {
		try {
			for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
				if (line.startsWith("CapEff:")) {
					return new BigInteger(line.substring("CapEff:".length()).trim(), 16).testBit(capability);
				}
			}
		}
		catch (IOException | NumberFormatException ex) {
			logger.debug("Cannot read this process's capabilities", ex);
		}
		return false;
	}

	/** The nice value in a {@code /proc/<pid>/stat} or {@code /proc/<pid>/task/<tid>/stat} file. */
	static int nice(Path stat) {
		try {
			String content = Files.readString(stat);
			// after the command's name in parentheses: state is field 3, nice field 19
			String[] fields = content.substring(content.lastIndexOf(')') + 2).split(" ");
			return Integer.parseInt(fields[16]);
		}
		catch (IOException | RuntimeException ex) {
			throw new IllegalStateException("cannot read the nice value from " + stat + ": " + ex, ex);
		}
	}

}
