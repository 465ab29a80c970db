package dev.tableflip.spring.boot.it;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
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
		long current = start(jvmOptions, arguments());
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
	void separateManagementPortIsHandedOverToo() throws Exception {
		int management = ApplicationProcesses.freePort();
		long old = start(List.of(), arguments("--management.server.port=" + management,
				"--management.server.address=127.0.0.1"));

		HttpLoad.Response response = HttpLoad.request(ApplicationProcesses.address(management), "POST",
				"/actuator/tableflip/upgrade");

		assertThat(response.status()).as(response + "\n" + this.processes.output()).isEqualTo(200);
		long current = this.processes.awaitServedBy(this.port, (pid) -> pid != old, WAIT);
		this.processes.awaitGone(old, WAIT);
		HttpLoad.Response status = HttpLoad.get(ApplicationProcesses.address(management), "/actuator/tableflip");
		assertThat(status.body()).contains("\"pid\":" + current).contains("\"generation\":2");
	}

	@Test
	void newVersionThatFailsDuringRefreshLeavesTheOldOneServing() throws Exception {
		failedUpgradeUnderLoadLosesNothing("-Dit.fail-if-child=true");
	}

	@Test
	void newVersionThatFailsAfterItsServerStartedTookNoConnectionWithIt() throws Exception {
		failedUpgradeUnderLoadLosesNothing("-Dit.fail-after-start-if-child=true");
	}

	private void failedUpgradeUnderLoadLosesNothing(String failure) throws Exception {
		long old = start(List.of(failure), arguments());
		try (HttpLoad load = new HttpLoad(ApplicationProcesses.address(this.port), "/", 4, 2)) {
			Thread.sleep(500);
			HttpLoad.Response response = HttpLoad.request(ApplicationProcesses.address(this.port), "POST",
					"/actuator/tableflip/upgrade");
			assertThat(response.status()).as(response.toString()).isEqualTo(503);
			assertThat(response.body()).contains("\"reason\":\"CHILD_EXITED\"").contains("\"exitCode\":1");
			Thread.sleep(500);
			load.close();
			System.out.println(getClass().getSimpleName() + ", failed upgrade (" + failure + "): " + load.summary());
			assertThat(load.failed()).as(load.summary() + "\n" + this.processes.output()).isZero();
			assertThat(load.pids()).containsExactly(old);
		}
		HttpLoad.Response status = HttpLoad.get(ApplicationProcesses.address(this.port), "/actuator/tableflip");
		assertThat(status.body()).contains("\"state\":\"ready\"").contains("\"outcome\":\"failed\"");
	}

}
