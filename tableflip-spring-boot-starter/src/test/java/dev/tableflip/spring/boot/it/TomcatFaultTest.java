package dev.tableflip.spring.boot.it;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

import dev.tableflip.testsupport.ApplicationProcesses;
import dev.tableflip.testsupport.HttpLoad;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code kill -9} of one of the two processes at a chosen moment of an upgrade, under a load of
 * keep-alive and fresh connections (non-2xx answers count as failures): afterwards exactly one
 * process serves, the PID file and the endpoint say which, and a further upgrade loses nothing.
 * On Tomcat; the rollback is the core's and the starter's, not the server's.
 */
class TomcatFaultTest {

	private static final Duration WAIT = Duration.ofSeconds(90);

	/** Connections of the load: a process killed while serving can fail at most one request on each. */
	private static final int CONNECTIONS = 6;

	@TempDir
	Path directory;

	private ApplicationProcesses processes;

	private int port;

	private Path pidFile;

	@BeforeEach
	void prepare() throws Exception {
		this.processes = new ApplicationProcesses(this.directory);
		this.port = ApplicationProcesses.freePort();
		this.pidFile = this.directory.resolve("app.pid");
	}

	@AfterEach
	void killEveryProcess() {
		this.processes.close();
	}

	@Test
	void newProcessKilledBeforeReadyOrDuringProbationLeavesTheOldOneServingAlone() throws Exception {
		// A warm-up makes the new process hold the listeners for a while before it is ready.
		long old = start("--tableflip.takeover.overlap=2s", "--tableflip.takeover.probation=6s",
				"--tableflip.warmup.requests[0].path=/warm", "--tableflip.warmup.duration=2500ms");
		InetSocketAddress address = ApplicationProcesses.address(this.port);
		List<String> measured = new ArrayList<>();
		try (HttpLoad load = new HttpLoad(address, false, "/", 4, 2, HttpLoad.TESTS_PAUSE)) {
			// Killed before it connected for the handoff, then after it took the sockets (in its warm-up).
			for (String moment : new String[] { "300 ms after its start", "in its warm-up" }) {
				int started = count(this.processes.output(), "Started UpgradableApplication");
				CompletableFuture<HttpLoad.Response> upgrade = CompletableFuture.supplyAsync(this::postUpgrade);
				long child = awaitChild(old);
				if (moment.startsWith("300")) {
					Thread.sleep(300);
				}
				else {
					awaitOutput("Started UpgradableApplication", started + 1);
				}
				long failedBefore = load.failed();
				kill(child);
				HttpLoad.Response response = upgrade.get();
				assertThat(response.status()).as("killed %s: %s", moment, response).isEqualTo(503);
				assertThat(response.body()).contains("\"reason\":\"CHILD_EXITED\"", "\"exitCode\":137");
				assertThat(load.failed() - failedBefore).as("failed requests, new process killed before ready: "
						+ load.summary() + "\n" + this.processes.output()).isZero();
				measured.add("killed " + moment + " (not ready): 0 failed");
			}
			for (long killAfter : new long[] { 100, 5000 }) {
				HttpLoad.Response response = postUpgrade();
				assertThat(response.status()).as(response + "\n" + this.processes.output()).isEqualTo(200);
				long child = childPid(response);
				Thread.sleep(killAfter);
				long failedBefore = load.failed();
				long killed = System.nanoTime();
				kill(child);
				HttpLoad.Response status = awaitStatus(address, old, "\"state\":\"ready\"");
				long tookMillis = (System.nanoTime() - killed) / 1_000_000;
				assertThat(tookMillis).as("serving alone again after the kill").isLessThan(1000);
				assertThat(status.body()).contains("\"outcome\":\"rolled_back\"", "\"reason\":\"PROBATION_FAILED\"",
						"\"exitCode\":137");
				assertThat(Files.readString(this.pidFile)).isEqualTo(old + "\n");
				Thread.sleep(300);
				long failed = load.failed() - failedBefore;
				assertThat(failed).as("at most one request on each connection the killed process held: "
						+ load.summary()).isLessThanOrEqualTo(CONNECTIONS);
				measured.add("killed " + killAfter + " ms into probation: old process alone after " + tookMillis
						+ " ms, " + failed + " failed");
			}
			assertThat(HttpLoad.get(address, "/").body()).contains("\"pid\":" + old);
			assertThat(ApplicationProcesses.alive(old)).isTrue();
			System.out.println("TomcatFaultTest, new process killed: " + measured + "; " + load.summary());
		}
		upgradeUnderLoadLosesNothing(old);
	}

	@Test
	void oldProcessKilledBeforeTheNewOneIsReadyLeavesTheNewOneServingAlone() throws Exception {
		long old = start("--tableflip.warmup.requests[0].path=/warm", "--tableflip.warmup.duration=2s");
		InetSocketAddress address = ApplicationProcesses.address(this.port);
		long child;
		try (HttpLoad load = new HttpLoad(address, false, "/", 4, 2, HttpLoad.TESTS_PAUSE)) {
			CompletableFuture.runAsync(this::postUpgrade);
			child = awaitChild(old);
			this.processes.track(child);
			awaitOutput("Started UpgradableApplication", 2); // it took the sockets; its warm-up runs
			kill(old);

			HttpLoad.Response status = awaitStatus(address, child, "\"state\":\"ready\"");
			assertThat(status.body()).contains("\"generation\":2");
			assertThat(Files.readString(this.pidFile)).isEqualTo(child + "\n");
			Thread.sleep(500);
			load.close();
			System.out.println("TomcatFaultTest, old process killed before ready: " + load.summary());
			assertThat(load.failed()).as("at most one request on each connection the killed process held: "
					+ load.summary()).isLessThanOrEqualTo(CONNECTIONS);
		}
		assertThat(this.processes.output()).contains("this process serves alone");
		upgradeUnderLoadLosesNothing(child);
	}

	@Test
	void processWhoseTakeoverFailsExitsWithStatusOneAndSaysWhy() throws Exception {
		List<String> arguments = new ArrayList<>(List.of("--spring.main.web-application-type=servlet",
				"--server.port=" + this.port, "--tableflip.warmup.requests[0].path=/no-such-path",
				"--tableflip.warmup.count=5"));
		long pid = this.processes.startBeside(
				ApplicationProcesses.command(UpgradableApplication.class, List.of(), arguments), this.directory);

		// The context closes on a thread of tableflip's; a JVM whose last other thread ends exits 0.
		assertThat(this.processes.awaitExitStatus(pid, WAIT)).as(this.processes.output()).isEqualTo(1);
		assertThat(this.processes.output()).contains("Process " + pid + " will not serve: warm-up failed")
			.contains("exiting with status 1")
			.doesNotContain("the old process keeps serving");
	}

	/** One more upgrade of {@code current}, which must serve alone now, under a new load: nothing fails. */
	private void upgradeUnderLoadLosesNothing(long current) throws Exception {
		InetSocketAddress address = ApplicationProcesses.address(this.port);
		try (HttpLoad load = new HttpLoad(address, false, "/", 4, 2, HttpLoad.TESTS_PAUSE)) {
			HttpLoad.Response response = postUpgrade();
			assertThat(response.status()).as(response + "\n" + this.processes.output()).isEqualTo(200);
			long next = childPid(response);
			this.processes.track(next);
			this.processes.awaitGone(current, WAIT);
			assertThat(HttpLoad.pidOf(HttpLoad.get(address, "/"))).isEqualTo(next);
			assertThat(Files.readString(this.pidFile)).isEqualTo(next + "\n");
			load.close();
			assertThat(load.failed()).as(load.summary() + "\n" + this.processes.output()).isZero();
		}
	}

	private long start(String... more) throws IOException {
		List<String> arguments = new ArrayList<>(List.of("--spring.main.web-application-type=servlet",
				"--server.port=" + this.port, "--tableflip.pid-file=" + this.pidFile,
				"--management.endpoints.web.exposure.include=health,tableflip",
				"--management.endpoint.tableflip.access=unrestricted"));
		arguments.addAll(List.of(more));
		return this.processes.start(this.port,
				ApplicationProcesses.command(UpgradableApplication.class, List.of(), arguments), null);
	}

	private HttpLoad.Response postUpgrade() {
		try {
			return HttpLoad.request(ApplicationProcesses.address(this.port), "POST", "/actuator/tableflip/upgrade");
		}
		catch (IOException ex) {
			throw new IllegalStateException(ex);
		}
	}

	/** The new process an upgrade of {@code parent} started, its only child, once its JVM runs. */
	private long awaitChild(long parent) {
		long child = ApplicationProcesses.awaitChildJvm(parent, WAIT);
		if (child < 0) {
			throw new AssertionError("process " + parent + " started no new process\n" + this.processes.output());
		}
		this.processes.track(child);
		return child;
	}

	/** Polls the endpoint until process {@code pid} answers and says {@code expected}. */
	private HttpLoad.Response awaitStatus(InetSocketAddress address, long pid, String expected)
			throws InterruptedException {
		long deadline = System.nanoTime() + WAIT.toNanos();
		HttpLoad.Response last = null;
		while (System.nanoTime() < deadline) {
			try {
				last = HttpLoad.get(address, "/actuator/tableflip");
				if (last.body().contains("\"pid\":" + pid + ",") && last.body().contains(expected)) {
					return last;
				}
			}
			catch (IOException ex) {
				// a process was just killed: ask again
			}
			Thread.sleep(5);
		}
		throw new AssertionError("process " + pid + " never said " + expected + "; last: " + last + "\n"
				+ this.processes.output());
	}

	private static int count(String text, String part) {
		return text.split(java.util.regex.Pattern.quote(part), -1).length - 1;
	}

	/** Waits until the processes' output says {@code text} {@code times} times. */
	private void awaitOutput(String text, int times) throws InterruptedException {
		long deadline = System.nanoTime() + WAIT.toNanos();
		while (System.nanoTime() < deadline) {
			if (count(this.processes.output(), text) >= times) {
				return;
			}
			Thread.sleep(20);
		}
		throw new AssertionError("the output never said '" + text + "' " + times + " times\n" + this.processes.output());
	}

	private static long childPid(HttpLoad.Response response) {
		return Long.parseLong(response.body().replaceAll(".*\"childPid\":(\\d+).*", "$1"));
	}

	private static void kill(long pid) {
		ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
	}

}
