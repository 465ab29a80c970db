package dev.tableflip.sample;

import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

import dev.tableflip.testsupport.ApplicationProcesses;
import dev.tableflip.testsupport.HttpLoad;
import dev.tableflip.testsupport.HttpLoad.Response;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The packaged sample, run as {@code java -jar} from a deployment directory of its own, and
 * upgraded the ways an operator would: signals, the endpoint, a changed configuration file, a
 * jar replaced on disk.
 */
class SampleUpgradeIT {

	private static final Duration WAIT = Duration.ofSeconds(90);

	@TempDir
	Path deployment;

	private ApplicationProcesses processes;

	private Path jar;

	private Path config;

	private int port;

	private int management;

	@BeforeEach
	void deploy() throws IOException {
		this.processes = new ApplicationProcesses(this.deployment);
		this.jar = this.deployment.resolve("app.jar");
		Files.copy(Path.of(System.getProperty("sample.jar")), this.jar);
		this.config = this.deployment.resolve("extra.properties");
		Files.writeString(this.config, "sample.greeting=v1\n");
		this.port = ApplicationProcesses.freePort();
		this.management = ApplicationProcesses.freePort();
	}

	@AfterEach
	void killEveryProcess() {
		this.processes.close();
	}

	private long start(String... arguments) throws IOException {
		List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
				"-XX:TieredStopAtLevel=1", "-jar", "app.jar", "--server.port=" + this.port,
				"--management.server.port=" + this.management, "--tableflip.pid-file=app.pid",
				"--spring.config.additional-location=file:extra.properties"));
		command.addAll(List.of(arguments));
		return this.processes.start(this.port, command, this.deployment);
	}

	@Test
	void severalUpgradesUnderLoadLoseNothingAndPickUpTheNewConfiguration() throws Exception {
		long current = start();
		try (HttpLoad load = new HttpLoad(ApplicationProcesses.address(this.port), "/", 4, 2)) {
			Thread.sleep(1000);
			for (int upgrade = 1; upgrade <= 3; upgrade++) {
				if (upgrade == 2) {
					Files.writeString(this.config, "sample.greeting=v2\n");
				}
				current = upgradeBySignal(current);
				Thread.sleep(1000);
			}
			load.close();
			System.out.println("sample, 3 upgrades under load: " + load.summary());
			assertThat(load.failed()).as(load.summary() + "\n" + this.processes.output()).isZero();
			assertThat(load.pids()).hasSize(4);
		}
		assertThat(get("/").body()).contains("\"greeting\":\"v2\"").contains("\"generation\":4");
	}

	@Test
	void slowRequestsInFlightOnTheOldProcessComplete() throws Exception {
		long old = start();
		List<CompletableFuture<Response>> slow = new ArrayList<>();
		ExecutorService clients = Executors.newFixedThreadPool(4);
		for (int i = 0; i < 4; i++) {
			slow.add(CompletableFuture.supplyAsync(() -> {
				try {
					return get("/slow?ms=4000");
				}
				catch (IOException ex) {
					throw new IllegalStateException(ex);
				}
			}, clients));
		}
		Thread.sleep(500);
		upgradeBySignal(old);
		for (CompletableFuture<Response> request : slow) {
			Response response = request.get();
			assertThat(response.status()).isEqualTo(200);
			assertThat(HttpLoad.pidOf(response)).isEqualTo(old);
		}
		clients.shutdown();
	}

	@Test
	void idleKeepAliveConnectionToTheOldProcessEndsCleanlyWhenItExits() throws Exception {
		long old = start();
		try (Socket idle = new Socket(ApplicationProcesses.address(this.port).getAddress(), this.port)) {
			idle.setSoTimeout(30_000);
			idle.getOutputStream()
				.write("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
			InputStream in = idle.getInputStream();
			String first = readResponse(in);
			assertThat(first).contains("\"pid\":" + old);

			upgradeBySignal(old);

			assertThat(in.read()).as("end of stream: closed by the old process, with no copy left in the new one")
				.isEqualTo(-1);
		}
	}

	@Test
	void brokenJarFailsTheUpgradeAndARepairedJarUpgrades() throws Exception {
		long old = start();
		Path good = this.deployment.resolve("good.jar");
		Files.copy(this.jar, good);
		replaceAtomically(this.jar, "this is not a jar".getBytes(StandardCharsets.US_ASCII));

		Response failed = upgradeByEndpoint();

		assertThat(failed.status()).as(failed.toString()).isEqualTo(503);
		assertThat(failed.body()).contains("\"reason\":\"CHILD_EXITED\"").contains("\"exitCode\":1");
		assertThat(HttpLoad.pidOf(get("/"))).isEqualTo(old);

		Files.move(good, this.jar, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
		Response upgraded = upgradeByEndpoint();

		assertThat(upgraded.status()).as(upgraded + "\n" + this.processes.output()).isEqualTo(200);
		this.processes.awaitGone(old, WAIT);
		assertThat(HttpLoad.pidOf(get("/"))).isNotEqualTo(old);
	}

	@Test
	void newVersionThatHangsIsKilledAfterTheUpgradeTimeout() throws Exception {
		long old = start("--tableflip.upgrade-timeout=6s");
		Files.writeString(this.config, "sample.startup-delay=10m\n");

		Response failed = upgradeByEndpoint();

		assertThat(failed.status()).as(failed.toString()).isEqualTo(503);
		assertThat(failed.body()).contains("\"reason\":\"TIMED_OUT\"");
		long child = Long.parseLong(failed.body().replaceAll(".*\"childPid\":(\\d+).*", "$1"));
		this.processes.track(child);
		assertThat(ApplicationProcesses.alive(child)).as("the hanging process was killed").isFalse();
		assertThat(HttpLoad.pidOf(get("/"))).isEqualTo(old);
	}

	@Test
	void fiveSignalsInQuickSuccessionUpgradeOnce() throws Exception {
		long old = start();
		for (int i = 0; i < 5; i++) {
			ApplicationProcesses.signal("HUP", old);
		}
		long next = this.processes.awaitServedBy(this.port, (pid) -> pid != old, WAIT);
		this.processes.awaitGone(old, WAIT);
		Thread.sleep(2000);

		Response status = HttpLoad.get(ApplicationProcesses.address(this.management), "/actuator/tableflip");
		assertThat(status.body()).contains("\"pid\":" + next)
			.contains("\"parentPid\":" + old)
			.contains("\"generation\":2")
			.contains("\"upgrades\":[]");
	}

	private long upgradeBySignal(long old) throws Exception {
		ApplicationProcesses.signal("HUP", old);
		long next = this.processes.awaitServedBy(this.port, (pid) -> pid != old, WAIT);
		this.processes.awaitGone(old, WAIT);
		assertThat(Files.readString(this.deployment.resolve("app.pid")).trim()).isEqualTo(Long.toString(next));
		return next;
	}

	private Response upgradeByEndpoint() throws IOException {
		return HttpLoad.request(ApplicationProcesses.address(this.management), "POST", "/actuator/tableflip/upgrade");
	}

	private Response get(String path) throws IOException {
		return HttpLoad.get(ApplicationProcesses.address(this.port), path);
	}

	private static void replaceAtomically(Path target, byte[] content) throws IOException {
		Path temporary = target.resolveSibling(target.getFileName() + ".new");
		Files.write(temporary, content);
		Files.move(temporary, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
	}

	/** Reads one response with a Content-Length or chunked body, leaving the connection open. */
	private static String readResponse(InputStream in) throws IOException {
		StringBuilder text = new StringBuilder();
		while (!text.toString().endsWith("\r\n\r\n")) {
			int b = in.read();
			if (b < 0) {
				throw new IOException("closed before the response");
			}
			text.append((char) b);
		}
		String headers = text.toString().toLowerCase();
		if (headers.contains("transfer-encoding: chunked")) {
			while (!text.toString().endsWith("\r\n0\r\n\r\n")) {
				text.append((char) in.read());
			}
		}
		else {
			int length = Integer.parseInt(headers.replaceAll("(?s).*content-length: (\\d+).*", "$1"));
			text.append(new String(in.readNBytes(length), StandardCharsets.UTF_8));
		}
		return text.toString();
	}

}
