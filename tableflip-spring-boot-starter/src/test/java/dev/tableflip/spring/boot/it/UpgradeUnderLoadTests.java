package dev.tableflip.spring.boot.it;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import dev.tableflip.testsupport.ApplicationProcesses;
import dev.tableflip.testsupport.HttpLoad;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A real Spring Boot application, upgraded in a real process tree while a client sends
 * requests without pause over keep-alive and fresh connections. Subclasses choose the server.
 */
abstract class UpgradeUnderLoadTests {

	private static final Duration WAIT = Duration.ofSeconds(90);

	@TempDir
	Path directory;

	ApplicationProcesses processes;

	int port;

	Path pidFile;

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

	/** Starts the test application on this test's port and waits until it is ready. */
	long start(List<String> jvmOptions, List<String> arguments) throws IOException {
		List<String> all = new ArrayList<>(arguments);
		all.add("--server.port=" + this.port);
		return this.processes.start(this.port,
				ApplicationProcesses.command(UpgradableApplication.class, jvmOptions, all), null);
	}

	/** Arguments that select the server under test. */
	abstract List<String> serverArguments();

	List<String> arguments(String... more) {
		List<String> arguments = new ArrayList<>(serverArguments());
		arguments.add("--tableflip.pid-file=" + this.pidFile);
		arguments.add("--management.endpoints.web.exposure.include=health,tableflip");
		arguments.add("--management.endpoint.tableflip.access=unrestricted");
		arguments.addAll(List.of(more));
		return arguments;
	}

	@Test
	void threeUpgradesBySignalAndEndpointUnderLoadLoseNoRequest() throws Exception {
		upgradeThreeTimesUnderLoad(List.of());
	}

	void upgradeThreeTimesUnderLoad(List<String> jvmOptions) throws Exception {
		// A shorter overlap than the default: more keep-alive clients move per second, and the suite
		// fits in CI's time; the overlap itself is proven by duringTheOverlap...().
		long current = start(jvmOptions, arguments("--tableflip.takeover.overlap=2s"));
		try (HttpLoad load = new HttpLoad(ApplicationProcesses.address(this.port), "/", 4, 2)) {
			Thread.sleep(1000);
			for (int upgrade = 1; upgrade <= 3; upgrade++) {
				long old = current;
				if (upgrade == 2) {
					HttpLoad.Response response = HttpLoad.request(ApplicationProcesses.address(this.port), "POST",
							"/actuator/tableflip/upgrade");
					assertThat(response.status()).as(response + "\n" + this.processes.output()).isEqualTo(200);
					current = Long.parseLong(response.body().replaceAll(".*\"childPid\":(\\d+).*", "$1"));
				}
				else {
					ApplicationProcesses.signal("HUP", old);
					current = this.processes.awaitServedBy(this.port, (pid) -> pid != old, WAIT);
				}
				this.processes.track(current);
				this.processes.awaitGone(old, WAIT);
				assertThat(Files.readString(this.pidFile).trim()).isEqualTo(Long.toString(current));
				long now = current;
				this.processes.awaitServedBy(this.port, (pid) -> pid == now, WAIT);
				Thread.sleep(1000);
			}
			load.close();
			System.out.println(getClass().getSimpleName() + ", 3 upgrades under load: " + load.summary());
			String status = HttpLoad.get(ApplicationProcesses.address(this.port), "/actuator/tableflip").body();
			assertThat(status).as("the lineage after three upgrades")
				.contains("\"generation\":4")
				.contains("\"startedBy\":\"signal\"")
				.containsPattern("\"upgrades\":\\{[^}]*\"succeeded\":3");
			assertThat(load.failed()).as(load.summary() + "\n" + this.processes.output()).isZero();
			assertThat(load.keepAliveOk()).as(load.summary()).isGreaterThan(200);
			assertThat(load.freshOk()).as(load.summary()).isGreaterThan(100);
			assertThat(load.pids()).as(load.summary()).hasSize(4);
		}
	}

	@Test
	void upgradeOverHttpNeedsUnrestrictedAccessAndUnknownActionsAreNotFound() throws Exception {
		List<String> readOnly = new ArrayList<>(serverArguments());
		readOnly.add("--management.endpoints.web.exposure.include=health,tableflip");
		long pid = start(List.of(), readOnly);
		assertThat(HttpLoad.get(ApplicationProcesses.address(this.port), "/actuator/tableflip").body())
			.contains("\"pid\":" + pid);
		HttpLoad.Response refused = HttpLoad.request(ApplicationProcesses.address(this.port), "POST",
				"/actuator/tableflip/upgrade");
		assertThat(refused.status()).as(refused.toString()).isIn(404, 405);
		this.processes.close();

		this.port = ApplicationProcesses.freePort();
		Files.createDirectories(this.directory.resolve("unrestricted"));
		this.processes = new ApplicationProcesses(this.directory.resolve("unrestricted"));
		start(List.of(), arguments());
		HttpLoad.Response unknown = HttpLoad.request(ApplicationProcesses.address(this.port), "POST",
				"/actuator/tableflip/downgrade");
		assertThat(unknown.status()).as(unknown.toString()).isEqualTo(404);
		assertThat(unknown.body()).contains("unknown action 'downgrade'");
	}

	@Test
	void slowRequestsInFlightOnTheOldProcessComplete() throws Exception {
		long old = start(List.of(), arguments());
		ExecutorService clients = Executors.newFixedThreadPool(4);
		try {
			List<Future<HttpLoad.Response>> slow = new ArrayList<>();
			for (int i = 0; i < 4; i++) {
				slow.add(clients.submit(() -> HttpLoad.get(ApplicationProcesses.address(this.port), "/slow?ms=4000")));
			}
			Thread.sleep(500);
			ApplicationProcesses.signal("HUP", old);
			for (Future<HttpLoad.Response> request : slow) {
				HttpLoad.Response response = request.get();
				assertThat(response.status()).as(response + "\n" + this.processes.output()).isEqualTo(200);
				assertThat(HttpLoad.pidOf(response)).isEqualTo(old);
			}
			this.processes.awaitGone(old, WAIT);
		}
		finally {
			clients.shutdownNow();
		}
	}

	@Test
	void separateManagementPortIsHandedOverTooAndAHealthyNewVersionPassesTheHealthGate() throws Exception {
		int management = ApplicationProcesses.freePort();
		List<String> arguments = new ArrayList<>(healthGate()); // and a healthy new version passes the gate
		arguments.addAll(List.of("--management.server.port=" + management, "--management.server.address=127.0.0.1"));
		long old = start(List.of(), arguments(arguments.toArray(String[]::new)));

		HttpLoad.Response response = HttpLoad.request(ApplicationProcesses.address(management), "POST",
				"/actuator/tableflip/upgrade");

		assertThat(response.status()).as(response + "\n" + this.processes.output()).isEqualTo(200);
		long current = this.processes.awaitServedBy(this.port, (pid) -> pid != old, WAIT);
		this.processes.awaitGone(old, WAIT);
		HttpLoad.Response status = HttpLoad.get(ApplicationProcesses.address(management), "/actuator/tableflip");
		assertThat(status.body()).contains("\"pid\":" + current).contains("\"generation\":2");
	}

	@Test
	void duringTheOverlapBothProcessesAnswerAndAfterItOnlyTheNewOne() throws Exception {
		long old = start(List.of(), arguments("--tableflip.takeover.overlap=4s"));
		InetSocketAddress address = ApplicationProcesses.address(this.port);
		try (HttpLoad load = new HttpLoad(address, "/", 4, 2)) {
			Thread.sleep(500);
			HttpLoad.Response response = HttpLoad.request(address, "POST", "/actuator/tableflip/upgrade");
			assertThat(response.status()).as(response + "\n" + this.processes.output()).isEqualTo(200);
			long current = Long.parseLong(response.body().replaceAll(".*\"childPid\":(\\d+).*", "$1"));
			this.processes.track(current);

			Set<Long> duringOverlap = new HashSet<>();
			boolean oldSaidOverlapping = false;
			long windowEnds = System.nanoTime() + Duration.ofMillis(2500).toNanos();
			while (System.nanoTime() < windowEnds) {
				HttpLoad.Response status = HttpLoad.get(address, "/actuator/tableflip");
				duringOverlap.add(HttpLoad.pidOf(status));
				oldSaidOverlapping |= status.body().contains("\"pid\":" + old)
						&& status.body().contains("\"state\":\"probation\"");
			}
			assertThat(duringOverlap).as("pids answering during the overlap").containsExactlyInAnyOrder(old, current);
			assertThat(oldSaidOverlapping).as("the old process reports the overlap").isTrue();

			this.processes.awaitGone(old, WAIT);
			Set<Long> after = new HashSet<>();
			for (int i = 0; i < 50; i++) {
				after.add(HttpLoad.pidOf(HttpLoad.get(address, "/")));
			}
			assertThat(after).as("pids answering after the overlap").containsExactly(current);
			load.close();
			System.out.println(getClass().getSimpleName() + ", upgrade with overlap: " + load.summary());
			assertThat(load.failed()).as(load.summary() + "\n" + this.processes.output()).isZero();
		}
	}

	@Test
	void warmupRequestsReachOnlyTheNewProcess() throws Exception {
		Path records = Files.createDirectories(this.directory.resolve("records"));
		long old = start(List.of(), arguments("--tableflip.warmup.requests[0].path=/warm",
				"--tableflip.warmup.count=300", "--it.record-dir=" + records));
		InetSocketAddress address = ApplicationProcesses.address(this.port);
		assertThat(HttpLoad.get(address, "/warm-hits").body()).as("the first process warms up too")
			.contains("\"warmHits\":300");
		try (HttpLoad load = new HttpLoad(address, "/", 4, 2)) {
			ApplicationProcesses.signal("HUP", old);
			long current = this.processes.awaitServedBy(this.port, (pid) -> pid != old, WAIT);
			this.processes.track(current);
			this.processes.awaitGone(old, WAIT);
			load.close();
			assertThat(load.failed()).as(load.summary() + "\n" + this.processes.output()).isZero();
			assertThat(HttpLoad.get(address, "/warm-hits").body()).contains("\"warmHits\":300");
			assertThat(Files.readString(records.resolve("warm-" + old)))
				.as("the old process saw only its own warm-up, none of the new one's").isEqualTo("300");
		}
		HttpLoad.Response status = HttpLoad.get(address, "/actuator/tableflip");
		assertThat(status.body()).doesNotContain("\"step\"").contains("\"state\":\"ready\"");
	}

	@Test
	void newVersionWhoseWarmupFailsLeavesTheOldOneServing() throws Exception {
		failedUpgradeUnderLoadLosesNothing(List.of("-Dit.fail-warmup-if-child=true"),
				List.of("--tableflip.warmup.requests[0].path=/warm", "--tableflip.warmup.count=50"),
				"\"reason\":\"CHILD_FAILED\"", "warm-up failed: GET /warm answered 500");
	}

	@Test
	void newVersionThatIsNotHealthyLeavesTheOldOneServing() throws Exception {
		failedUpgradeUnderLoadLosesNothing(List.of("-Dit.unhealthy-if-child=true"), healthGate(),
				"\"reason\":\"CHILD_FAILED\"", "health gate failed: health group 'gate' is DOWN");
	}

	/** The health gate on a group holding the test's own health contributor, and a probe of GET /. */
	private static List<String> healthGate() {
		return List.of("--tableflip.health-gate.enabled=true", "--tableflip.health-gate.groups=gate",
				"--management.endpoint.health.group.gate.include=it", "--tableflip.health-gate.probe-path=/",
				"--tableflip.health-gate.timeout=3s");
	}

	@Test
	void newVersionThatFailsDuringRefreshLeavesTheOldOneServing() throws Exception {
		failedUpgradeUnderLoadLosesNothing(List.of("-Dit.fail-if-child=true"), List.of(),
				"\"reason\":\"CHILD_EXITED\"", "\"exitCode\":1");
	}

	@Test
	void newVersionThatFailsAfterItsServerStartedTookNoConnectionWithIt() throws Exception {
		failedUpgradeUnderLoadLosesNothing(List.of("-Dit.fail-after-start-if-child=true"), List.of(),
				"\"reason\":\"CHILD_EXITED\"", "\"exitCode\":1");
	}

	private void failedUpgradeUnderLoadLosesNothing(List<String> failure, List<String> arguments, String... expected)
			throws Exception {
		long old = start(failure, arguments(arguments.toArray(String[]::new)));
		try (HttpLoad load = new HttpLoad(ApplicationProcesses.address(this.port), "/", 4, 2)) {
			Thread.sleep(500);
			HttpLoad.Response response = HttpLoad.request(ApplicationProcesses.address(this.port), "POST",
					"/actuator/tableflip/upgrade");
			assertThat(response.status()).as(response.toString()).isEqualTo(503);
			assertThat(response.body()).contains(expected);
			Thread.sleep(500);
			load.close();
			System.out.println(getClass().getSimpleName() + ", failed upgrade " + failure + ": " + load.summary());
			assertThat(load.failed()).as(load.summary() + "\n" + this.processes.output()).isZero();
			assertThat(load.pids()).containsExactly(old);
		}
		HttpLoad.Response status = HttpLoad.get(ApplicationProcesses.address(this.port), "/actuator/tableflip");
		assertThat(status.body()).contains("\"state\":\"ready\"").contains("\"outcome\":\"failed\"");
	}

}
