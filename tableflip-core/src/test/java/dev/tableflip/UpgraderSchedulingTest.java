package dev.tableflip;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import dev.tableflip.fixture.ServiceProcesses.Event;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * How an upgrade schedules the two processes, read from {@code /proc} and the kernel of real
 * {@code Service} JVMs: the new one at its start nice value until it is ready, the serving one
 * at the shortest time slice meanwhile, and each back where it was once that is over.
 */
class UpgraderSchedulingTest extends ServiceProcessTest {

	@Test
	void newProcessRunsAtItsStartNiceValueUntilItIsReadyThenAtTheOldOnes() throws Exception {
		String cannot = StartPriority.cannotComeBackTo(0);
		assumeTrue(cannot == null, "a process of this test could not come back to nice 0: " + cannot);
		Event parent = this.services.start("tcp=" + this.tcp, "start-nice=10", "ready-delay-ms=1500");
		int parentNice = StartPriority.nice(Path.of("/proc", Long.toString(parent.pid()), "stat"));
		assertThat(parentNice).isLessThan(10);
		CompletableFuture<String> upgrade = upgradeAsync(parent);
		Event delaying = this.services.awaitOther("DELAYING", parent.pid(), WAIT);
		assertThat(threadNiceValues(delaying.pid())).as("every thread of the new JVM before it is ready")
			.containsOnly(10);

		assertThat(upgrade.get(30, TimeUnit.SECONDS)).isEqualTo("OK");
		this.services.awaitOther("READY", parent.pid(), WAIT);
		assertThat(threadNiceValues(delaying.pid())).as("every thread of the new process once it is ready")
			.containsOnly(parentNice);
	}

	@Test
	void servingProcessTakesTheShortestTimeSliceWhileTheOtherRunsAtALowerPriority() throws Exception {
		String cannot = StartPriority.cannotComeBackTo(0);
		assumeTrue(cannot == null, "a process of this test could not come back to nice 0: " + cannot);
		Event parent = this.services.start("tcp=" + this.tcp, "start-nice=10", "ready-delay-ms=1500",
				"linger-ms=3000", "exited-linger-ms=3000");
		assumeTrue(Native.slice(parent.pid()) > 0, "time slices per thread come with Linux 6.12");
		long serving = StartPriority.SERVING_SLICE_NANOS;
		assertThat(threadSlices(parent.pid())).as("a process before any upgrade").doesNotContain(serving);

		CompletableFuture<String> upgrade = upgradeAsync(parent);
		Event delaying = this.services.awaitOther("DELAYING", parent.pid(), WAIT);
		assertThat(threadSlices(parent.pid())).as("every thread of the old process while the new one starts")
			.containsOnly(serving);
		assertThat(threadSlices(delaying.pid())).as("the new process while it starts").doesNotContain(serving);

		assertThat(upgrade.get(30, TimeUnit.SECONDS)).isEqualTo("OK");
		this.services.awaitOther("READY", parent.pid(), WAIT);
		assertThat(threadSlices(delaying.pid())).as("every thread of the new process while the old one exits")
			.containsOnly(serving);
		assertThat(threadSlices(parent.pid())).as("the old process while it still serves beside the ready one")
			.containsOnly(serving);
		this.services.awaitFrom(parent.pid(), "EXITED", WAIT);
		awaitSlices(parent.pid(), "the old process once it serves no more (exiting())");
		this.services.awaitGone(parent.pid(), WAIT);
		awaitSlices(delaying.pid(), "the new process once the old one has exited");
	}

	@Test
	void oldProcessServingAloneAgainGoesBackToTheDefaultTimeSliceAfterAFailureOrARollback() throws Exception {
		String cannot = StartPriority.cannotComeBackTo(0);
		assumeTrue(cannot == null, "a process of this test could not come back to nice 0: " + cannot);
		Event parent = this.services.start("tcp=" + this.tcp, "start-nice=10", "ready-delay-ms=1500",
				"probation-ms=30000");
		assumeTrue(Native.slice(parent.pid()) > 0, "time slices per thread come with Linux 6.12");

		CompletableFuture<String> failing = upgradeAsync(parent);
		Event delaying = this.services.awaitOther("DELAYING", parent.pid(), WAIT);
		assertThat(threadSlices(parent.pid())).containsOnly(StartPriority.SERVING_SLICE_NANOS);
		ProcessHandle.of(delaying.pid()).ifPresent(ProcessHandle::destroyForcibly);
		assertThat(failing.get(30, TimeUnit.SECONDS)).startsWith("FAILED CHILD_EXITED");
		awaitSlices(parent.pid(), "the old process once the new one died before ready");

		assertThat(this.services.control(parent, "upgrade")).isEqualTo("OK");
		Event ready = this.services.await((event) -> event.name().equals("READY") && event.pid() != parent.pid()
				&& event.pid() != delaying.pid(), WAIT);
		assertThat(threadSlices(parent.pid())).as("the old process during the probation")
			.containsOnly(StartPriority.SERVING_SLICE_NANOS);
		ProcessHandle.of(ready.pid()).ifPresent(ProcessHandle::destroyForcibly);
		this.services.awaitFrom(parent.pid(), "ROLLED_BACK", WAIT);
		awaitSlices(parent.pid(), "the old process once it took the service back");
	}

	@Test
	void newProcessStartsAtTheOldOnesPriorityWhenItCouldNotComeBackAndTheLogSaysWhy() throws Exception {
		assumeTrue(Files.isExecutable(Path.of("/usr/bin/setpriv")) && Files.isExecutable(Path.of("/usr/bin/prlimit")),
				"needs setpriv and prlimit (util-linux)");
		// Without CAP_SYS_NICE and with RLIMIT_NICE 0, as an unprivileged service without LimitNICE= runs.
		Event parent = this.services.startUnder(List.of("/usr/bin/setpriv", "--bounding-set=-sys_nice",
				"--inh-caps=-sys_nice", "/usr/bin/prlimit", "--nice=0:0"), "tcp=" + this.tcp, "start-nice=10",
				"ready-delay-ms=1500");
		int parentNice = StartPriority.nice(Path.of("/proc", Long.toString(parent.pid()), "stat"));
		CompletableFuture<String> upgrade = upgradeAsync(parent);
		Event delaying = this.services.awaitOther("DELAYING", parent.pid(), WAIT);
		assertThat(threadNiceValues(delaying.pid())).as("the new JVM before it is ready").containsOnly(parentNice);

		assertThat(upgrade.get(30, TimeUnit.SECONDS)).isEqualTo("OK");
		assertThat(this.services.diagnostics())
			.contains("Starting the new process at this process's priority (nice " + parentNice + "), not at nice 10")
			.contains("RLIMIT_NICE is 0, which allows no lower nice value, and the process has no CAP_SYS_NICE")
			.contains("LimitNICE=+" + parentNice);
	}

	@Test
	void oldProcessExitsAtTheStartNiceValueOnceItHandedOverAndServedItsLast() throws Exception {
		Event parent = this.services.start("tcp=" + this.tcp, "start-nice=10", "exited-linger-ms=5000");
		assertThat(StartPriority.nice(Path.of("/proc", Long.toString(parent.pid()), "stat"))).isLessThan(10);

		assertThat(this.services.control(parent, "upgrade")).isEqualTo("OK");
		this.services.awaitOther("READY", parent.pid(), WAIT);
		this.services.awaitFrom(parent.pid(), "EXITED", WAIT);
		assertThat(threadNiceValues(parent.pid())).as("every thread of the old process after exiting()")
			.containsOnly(10);
	}

	@Test
	void processThatWasStoppedWithoutAnUpgradeExitsAtItsOwnPriority() throws Exception {
		Event parent = this.services.start("tcp=" + this.tcp, "start-nice=10", "exited-linger-ms=5000");
		int parentNice = StartPriority.nice(Path.of("/proc", Long.toString(parent.pid()), "stat"));

		assertThat(this.services.control(parent, "stop")).isEqualTo("OK");
		this.services.awaitFrom(parent.pid(), "EXITED", WAIT);
		assertThat(threadNiceValues(parent.pid())).as("every thread of a process that did not hand over")
			.containsOnly(parentNice);
	}

	/** Asks the service to upgrade; completes with its answer once the upgrade is over. */
	private CompletableFuture<String> upgradeAsync(Event service) {
		return CompletableFuture.supplyAsync(() -> {
			try {
				return this.services.control(service, "upgrade");
			}
			catch (IOException ex) {
				throw new UncheckedIOException(ex);
			}
		});
	}

	/** The time slice of each thread of a process, in nanoseconds. */
	private static Set<Long> threadSlices(long pid) throws IOException {
		Set<Long> values = new HashSet<>();
		try (Stream<Path> tasks = Files.list(Path.of("/proc", Long.toString(pid), "task"))) {
			for (Path task : tasks.toList()) {
				try {
					values.add(Native.slice(Long.parseLong(task.getFileName().toString())));
				}
				catch (IOException ex) {
					// a thread that ended meanwhile
				}
			}
		}
		return values;
	}

	/** Waits until no thread of a live process has the serving time slice any more. */
	private static void awaitSlices(long pid, String which) throws Exception {
		long deadline = System.nanoTime() + WAIT.toNanos();
		while (threadSlices(pid).contains(StartPriority.SERVING_SLICE_NANOS) && System.nanoTime() < deadline) {
			Thread.sleep(50);
		}
		assertThat(threadSlices(pid)).as("every thread of " + which).isNotEmpty()
			.doesNotContain(StartPriority.SERVING_SLICE_NANOS);
	}

	/** The nice value of each thread of a process. */
	private static Set<Integer> threadNiceValues(long pid) throws IOException {
		Set<Integer> values = new HashSet<>();
		try (Stream<Path> tasks = Files.list(Path.of("/proc", Long.toString(pid), "task"))) {
			for (Path task : tasks.toList()) {
				try {
					values.add(StartPriority.nice(task.resolve("stat")));
				}
				catch (IllegalStateException ex) {
					// a thread that ended meanwhile
				}
			}
		}
		return values;
	}

}
