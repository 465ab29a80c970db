package dev.tableflip;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.stream.Stream;

import dev.tableflip.fixture.ServiceProcesses;
import dev.tableflip.fixture.ServiceProcesses.Event;
import dev.tableflip.testsupport.ApplicationProcesses;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * One process dies, or is stopped, at a chosen moment of an upgrade: real JVMs, real
 * {@code kill -9}, real sockets. After each fault exactly one process serves and can be
 * upgraded again.
 */
class UpgraderFaultTest {

	private static final Duration WAIT = Duration.ofSeconds(30);

	@TempDir
	Path directory;

	private ServiceProcesses services;

	/** The small file systems a test mounted, unmounted after its processes are gone. */
	private final List<Path> mounts = new ArrayList<>();

	private int port;

	@BeforeEach
	void startHarness() throws IOException {
		this.services = new ServiceProcesses(this.directory);
		this.port = ApplicationProcesses.freePort();
	}

	@AfterEach
	void killEveryProcess() throws Exception {
		this.services.close();
		for (Path mount : this.mounts) {
			run("umount", "-l", mount.toString());
		}
	}

	@Test
	void newProcessKilledDuringProbationHandsTheServiceBackAtOnce() throws Exception {
		Path pidFile = this.directory.resolve("service.pid");
		for (long killAfterMillis : new long[] { 0, 1500 }) {
			Event old = this.services.start("tcp=127.0.0.1:" + this.port, "probation-ms=3000",
					"pidfile=" + pidFile);
			assertThat(this.services.control(old, "upgrade")).isEqualTo("OK");
			Event ready = this.services.awaitOther("READY", old.pid(), WAIT);
			Thread.sleep(killAfterMillis);

			long killed = System.nanoTime();
			ProcessHandle.of(ready.pid()).ifPresent(ProcessHandle::destroyForcibly);
			Event rolledBack = this.services.awaitFrom(old.pid(), "ROLLED_BACK", WAIT);
			long tookMillis = (System.nanoTime() - killed) / 1_000_000;

			assertThat(rolledBack.get("reason")).isEqualTo("PROBATION_FAILED");
			assertThat(rolledBack.get("child")).isEqualTo(Long.toString(ready.pid()));
			assertThat(rolledBack.get("exit")).isEqualTo("137");
			System.out.println("UpgraderFaultTest: new process killed " + killAfterMillis + " ms into its probation, "
					+ "old process serving alone again " + tookMillis + " ms after the kill");
			assertThat(tookMillis).as("rolled back %d ms after the kill", tookMillis).isLessThan(1000);
			assertThat(Files.readString(pidFile)).as("the PID file names the process that serves")
				.isEqualTo(old.pid() + "\n");
			for (int i = 0; i < 20; i++) {
				assertThat(askPid()).isEqualTo(old.pid());
			}
			assertThat(ServiceProcesses.alive(old.pid())).as("the old process did not exit").isTrue();

			// It can be upgraded again, and this time the new process stays.
			assertThat(this.services.control(old, "upgrade")).isEqualTo("OK");
			Event next = this.services.await((event) -> event.name().equals("READY") && event.pid() != old.pid()
					&& event.pid() != ready.pid(), WAIT);
			this.services.awaitGone(old.pid(), WAIT);
			assertThat(askPid()).isEqualTo(next.pid());
			assertThat(Files.readString(pidFile)).isEqualTo(next.pid() + "\n");
			this.services.close();
			this.services = new ServiceProcesses(this.directory.resolve("run-" + killAfterMillis));
		}
	}

	@Test
	void newProcessKilledBeforeReadyLeavesTheOldOneServing() throws Exception {
		Event old = this.services.start("tcp=127.0.0.1:" + this.port, "probation-ms=2000", "ready-delay-ms=3000");
		CompletableFuture<String> upgrade = CompletableFuture.supplyAsync(() -> control(old, "upgrade"));
		Event delaying = this.services.awaitOther("DELAYING", old.pid(), WAIT);

		ProcessHandle.of(delaying.pid()).ifPresent(ProcessHandle::destroyForcibly);

		assertThat(upgrade.get()).startsWith("FAILED CHILD_EXITED").contains("exit=137");
		assertThat(askPid()).isEqualTo(old.pid());
	}

	@Test
	void oldProcessKilledBeforeTheNewOneIsReadyLeavesTheNewOneServingAlone() throws Exception {
		Path pidFile = this.directory.resolve("service.pid");
		Event old = this.services.start("tcp=127.0.0.1:" + this.port, "ready-delay-ms=1500", "pidfile=" + pidFile);
		CompletableFuture.runAsync(() -> control(old, "upgrade"));
		Event delaying = this.services.awaitOther("DELAYING", old.pid(), WAIT);

		ProcessHandle.of(old.pid()).ifPresent(ProcessHandle::destroyForcibly);
		this.services.awaitGone(old.pid(), WAIT);

		Event ready = this.services.awaitFrom(delaying.pid(), "READY", WAIT);
		assertThat(askPid()).isEqualTo(ready.pid());
		assertThat(Files.readString(pidFile)).isEqualTo(ready.pid() + "\n");
		// Not stuck before ready, and its parent counts as gone: it can be upgraded.
		assertThat(this.services.control(ready, "upgrade")).isEqualTo("OK");
		Event next = this.services.await((event) -> event.name().equals("READY") && event.pid() != ready.pid()
				&& event.pid() != old.pid(), WAIT);
		this.services.awaitGone(ready.pid(), WAIT);
		assertThat(askPid()).isEqualTo(next.pid());
	}

	@Test
	void oldProcessKilledBeforeTheHandoffLetsTheNewOneStartOnItsOwn() throws Exception {
		Event old = this.services.start("tcp=127.0.0.1:" + this.port);
		CompletableFuture.runAsync(() -> control(old, "upgrade"));
		long child = awaitChild(old.pid());

		ProcessHandle.of(old.pid()).ifPresent(ProcessHandle::destroyForcibly); // before the new JVM connects
		this.services.awaitGone(old.pid(), WAIT);

		Event ready = this.services.awaitFrom(child, "READY", WAIT);
		Event started = this.services.awaitFrom(child, "STARTED", WAIT);
		assertThat(started.get("generation")).as("on its own").isEqualTo("1");
		assertThat(started.get("parent")).isEqualTo("false");
		assertThat(askPid()).isEqualTo(ready.pid());
		assertThat(this.services.diagnostics()).contains("died before it handed its sockets over");
	}

	@Test
	void pidFileTheNewProcessCannotWriteFailsTheUpgradeWithThePathAndTheReason() throws Exception {
		Path run = this.directory.resolve("run");
		Files.createDirectories(run);
		Path pidFile = run.resolve("service.pid");
		Event old = this.services.start("tcp=127.0.0.1:" + this.port, "pidfile=" + pidFile);
		// Where the PID file's directory was, a file now: no process can write there.
		Files.delete(pidFile);
		Files.delete(run);
		Files.writeString(run, "not a directory");

		String reply = this.services.control(old, "upgrade");

		assertThat(reply).startsWith("FAILED CHILD_FAILED")
			.contains("cannot write the PID file " + pidFile);
		assertThat(askPid()).isEqualTo(old.pid());
	}

	/**
	 * The PID file is on a disk that filled up while the old process served: the new process
	 * cannot write it, says why, and exits; the old one serves on, and its PID file, written by
	 * rename and never in place, still names it whole. Once there is room again, the next
	 * upgrade succeeds. The disk is a real tmpfs of 64 KiB, which needs root (CI's machines
	 * run as root); elsewhere the test is skipped.
	 */
	@Test
	void pidFileOnAFullDiskFailsTheUpgradeWithTheReasonAndStillNamesTheOldProcess() throws Exception {
		Path disk = mountTmpfs("disk", "size=64k");
		Path pidFile = disk.resolve("service.pid");
		Event old = this.services.start("tcp=127.0.0.1:" + this.port, "pidfile=" + pidFile);
		assertThat(Files.readString(pidFile)).isEqualTo(old.pid() + "\n");
		Path filler = disk.resolve("filler");
		assertThatThrownBy(() -> {
			try (OutputStream out = Files.newOutputStream(filler)) {
				for (int i = 0; i < 1024; i++) {
					out.write(new byte[4096]);
					out.flush();
				}
			}
		}).as("the disk fills up").hasMessageContaining("No space left on device");

		String reply = this.services.control(old, "upgrade");

		assertThat(reply).startsWith("FAILED CHILD_FAILED")
			.contains("cannot write the PID file " + pidFile, "No space left on device");
		assertThat(Files.readString(pidFile)).as("the PID file after the failed upgrade").isEqualTo(old.pid() + "\n");
		assertThat(askPid()).isEqualTo(old.pid());

		Files.delete(filler);
		assertThat(this.services.control(old, "upgrade")).isEqualTo("OK");
		Event next = this.services.awaitOther("READY", old.pid(), WAIT);
		this.services.awaitGone(old.pid(), WAIT);
		assertThat(askPid()).isEqualTo(next.pid());
		assertThat(Files.readString(pidFile)).isEqualTo(next.pid() + "\n");
	}

	/**
	 * The run-time directory ({@code XDG_RUNTIME_DIR}), where each upgrade makes the directory of
	 * its handoff socket, is full: the upgrade fails before any process starts, says where and
	 * why, and the old process serves on. A real tmpfs whose inodes ran out; root only.
	 */
	@Test
	void runtimeDirectoryOnAFullDiskFailsTheUpgradeBeforeAnyProcessStarts() throws Exception {
		Path runtime = mountTmpfs("runtime", "size=64k,nr_inodes=8");
		Event old = this.services.start("tcp=127.0.0.1:" + this.port);
		assertThatThrownBy(() -> {
			for (int i = 0; i < 16; i++) {
				Files.createFile(runtime.resolve("filler-" + i));
			}
		}).as("the disk's inodes run out").hasMessageContaining("No space left on device");

		String reply = this.services.control(old, "upgrade");

		System.out.println("UpgraderFaultTest: the reply to an upgrade with a full run-time directory: " + reply);
		assertThat(reply).startsWith("FAILED SPAWN_FAILED").contains(runtime.toString(), "No space left on device");
		assertThat(askPid()).isEqualTo(old.pid());
		assertThat(ProcessHandle.of(old.pid()).orElseThrow().children()).as("no new process").isEmpty();
	}

	/**
	 * The run-time directory is so deep that the handoff socket's path is longer than a Unix
	 * socket's address can be (108 bytes on Linux): the upgrade fails before any process
	 * starts, and says so with the path.
	 */
	@Test
	void handoffSocketPathTooLongForAUnixSocketFailsTheUpgradeAndSaysWhy() throws Exception {
		this.services.close();
		this.services = new ServiceProcesses(this.directory.resolve("d".repeat(100)));
		Event old = this.services.start("tcp=127.0.0.1:" + this.port);
		assertThat(this.services.diagnostics()).as("the warning when the process is ready, before any upgrade")
			.contains("Upgrades of process " + old.pid() + " will fail: the handoff socket's path in ",
					"and a Unix socket's path at most 107: set a shorter java.io.tmpdir");

		String reply = this.services.control(old, "upgrade");

		System.out.println("UpgraderFaultTest: the reply to an upgrade whose handoff socket's path is too long: " + reply);
		assertThat(reply).startsWith("FAILED SPAWN_FAILED").contains("cannot listen on the handoff socket");
		assertThat(askPid()).isEqualTo(old.pid());
		assertThat(ProcessHandle.of(old.pid()).orElseThrow().children()).as("no new process").isEmpty();
	}

	/**
	 * A tmpfs with {@code options} mounted on the directory {@code name} of the test's; the test
	 * is skipped where that is not allowed (it needs root).
	 */
	private Path mountTmpfs(String name, String options) throws Exception {
		Path mount = Files.createDirectories(this.directory.resolve(name));
		Assumptions.assumeTrue(run("mount", "-t", "tmpfs", "-o", options, "tmpfs", mount.toString()) == 0,
				"mounting a small tmpfs needs root");
		this.mounts.add(mount);
		return mount;
	}

	private static int run(String... command) throws IOException, InterruptedException {
		return new ProcessBuilder(command).redirectErrorStream(true)
			.redirectOutput(ProcessBuilder.Redirect.DISCARD)
			.start()
			.waitFor();
	}

	@Test
	void stopAtAnyMomentOfAnUpgradeKillsTheNewProcessBeforeExitCompletes() throws Exception {
		for (long stopAfterMillis : new long[] { 0, 150, 400, 1500 }) {
			Event old = this.services.start("tcp=127.0.0.1:" + this.port, "child=hang", "linger-ms=60000");
			CompletableFuture<String> upgrade = CompletableFuture.supplyAsync(() -> control(old, "upgrade"));
			Thread.sleep(stopAfterMillis);

			assertThat(this.services.control(old, "stop")).isEqualTo("OK");

			Event exiting = this.services.awaitFrom(old.pid(), "EXITING", WAIT);
			assertThat(exiting.get("children")).as("stop() %d ms into the upgrade: no new process when exit() "
					+ "completes", stopAfterMillis).isEqualTo("0");
			assertThat(upgrade.get()).startsWith("FAILED STOPPED");
			try (Stream<Path> left = Files.list(this.services.runtimeDirectory())) {
				assertThat(left).as("handoff directories left behind").isEmpty();
			}
			this.services.close();
			this.services = new ServiceProcesses(this.directory.resolve("stop-" + stopAfterMillis));
		}
	}

	@Test
	void exitCallbackThatCallsSystemExitWhileAShutdownHookStopsDoesNotDeadlock() throws Exception {
		Event old = this.services.start("tcp=127.0.0.1:" + this.port, "exit-by-callback=true");

		// The callback exits from the upgrade's own thread: the command may get no answer.
		CompletableFuture.runAsync(() -> control(old, "upgrade"));

		Event next = this.services.awaitOther("READY", old.pid(), WAIT);
		this.services.awaitGone(old.pid(), Duration.ofSeconds(10));
		assertThat(askPid()).isEqualTo(next.pid());
		// A parent that never exited would make this one refuse with PARENT_NOT_EXITED.
		CompletableFuture.runAsync(() -> control(next, "upgrade"));
		Event third = this.services.await((event) -> event.name().equals("READY") && event.pid() != old.pid()
				&& event.pid() != next.pid(), WAIT);
		this.services.awaitGone(next.pid(), Duration.ofSeconds(10));
		assertThat(askPid()).isEqualTo(third.pid());
	}

	/**
	 * The new process an upgrade of {@code parent} started, its only child, once it runs java:
	 * the JDK starts it through a helper that execs java only after the parent told it what to
	 * run, so a parent killed before then leaves no new process at all.
	 */
	private static long awaitChild(long parent) {
		long child = ApplicationProcesses.awaitChildJvm(parent, WAIT);
		if (child < 0) {
			throw new AssertionError("process " + parent + " started no new java process");
		}
		return child;
	}

	private String control(Event service, String command) {
		try {
			return this.services.control(service, command);
		}
		catch (IOException ex) {
			throw new IllegalStateException(ex);
		}
	}

	private long askPid() throws IOException {
		try (Socket socket = new Socket(InetAddress.getLoopbackAddress(), this.port)) {
			socket.setSoTimeout(10_000);
			return Long.parseLong(new BufferedReader(new InputStreamReader(socket.getInputStream(),
					StandardCharsets.US_ASCII)).readLine());
		}
	}

}
