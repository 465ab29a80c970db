package dev.tableflip.sample;

import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.List;

import dev.tableflip.testsupport.ApplicationProcesses;
import dev.tableflip.testsupport.HttpLoad;
import dev.tableflip.testsupport.HttpLoad.Response;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The packaged sample, run as {@code java -jar} from a deployment directory of its own, and
 * upgraded the ways an operator would: signals, the endpoint, a changed configuration file, a
 * jar replaced on disk. The tests are the events of one deployment's life, in order, under one
 * load of keep-alive and fresh connections that loses nothing (a process start costs seconds:
 * one life keeps the suite within CI's time).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class SampleUpgradeIT {

	private static final Duration WAIT = Duration.ofSeconds(90);

	private Path deployment;

	private ApplicationProcesses processes;

	private Path jar;

	private Path config;

	private int port;

	private int management;

	private HttpLoad load;

	/** The process that serves now. */
	private long current;

	@BeforeAll
	void deployAndStartUnderLoad(@TempDir Path deployment) throws Exception {
		this.deployment = deployment;
		this.processes = new ApplicationProcesses(this.deployment);
		this.jar = this.deployment.resolve("app.jar");
		Files.copy(Path.of(System.getProperty("sample.jar")), this.jar);
		this.config = this.deployment.resolve("extra.properties");
		Files.writeString(this.config, "sample.greeting=v1\n");
		this.port = ApplicationProcesses.freePort();
		this.management = ApplicationProcesses.freePort();
		List<String> command = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
				"-XX:TieredStopAtLevel=1", "-jar", "app.jar", "--server.port=" + this.port,
				"--management.server.port=" + this.management, "--tableflip.pid-file=app.pid",
				"--tableflip.takeover.overlap=2s", "--spring.config.additional-location=file:extra.properties");
		this.current = this.processes.start(this.port, command, this.deployment);
		this.load = new HttpLoad(ApplicationProcesses.address(this.port), "/", 4, 2);
		Thread.sleep(500);
	}

	@AfterAll
	void stopEverything() throws InterruptedException {
		try {
			if (this.load != null) {
				this.load.close();
				System.out.println("sample, one deployment's life under load: " + this.load.summary());
			}
		}
		finally {
			this.processes.close();
		}
	}

	@Test
	@Order(1)
	void fiveSignalsInQuickSuccessionUpgradeOnceAndAnIdleConnectionToTheOldProcessEndsCleanly() throws Exception {
		long old = this.current;
		try (Socket idle = new Socket(ApplicationProcesses.address(this.port).getAddress(), this.port)) {
			idle.setSoTimeout(30_000);
			idle.getOutputStream()
				.write("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
			InputStream in = idle.getInputStream();
			assertThat(readResponse(in)).contains("\"pid\":" + old);

			for (int i = 0; i < 5; i++) {
				ApplicationProcesses.signal("HUP", old);
			}
			awaitNewProcessServingAlone();

			assertThat(in.read()).as("end of stream: closed by the old process, with no copy left in the new one")
				.isEqualTo(-1);
		}
		Thread.sleep(1000);
		assertThat(status().body()).contains("\"pid\":" + this.current)
			.contains("\"parentPid\":" + old)
			.contains("\"generation\":2")
			.contains("\"upgrades\":[]");
	}

	@Test
	@Order(2)
	void brokenJarFailsTheUpgradeAndARepairedJarWithANewConfigurationUpgrades() throws Exception {
		long failedBefore = this.load.failed();
		Path good = this.deployment.resolve("good.jar");
		Files.copy(this.jar, good);
		replaceAtomically(this.jar, "this is not a jar".getBytes(StandardCharsets.US_ASCII));

		Response failed = upgradeByEndpoint();

		assertThat(failed.status()).as(failed.toString()).isEqualTo(503);
		assertThat(failed.body()).contains("\"reason\":\"CHILD_EXITED\"").contains("\"exitCode\":1");
		assertThat(HttpLoad.pidOf(get("/"))).isEqualTo(this.current);

		Files.move(good, this.jar, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
		Files.writeString(this.config, "sample.greeting=v2\n");
		Response upgraded = upgradeByEndpoint();

		assertThat(upgraded.status()).as(upgraded + "\n" + this.processes.output()).isEqualTo(200);
		this.processes.track(Long.parseLong(upgraded.body().replaceAll(".*\"childPid\":(\\d+).*", "$1")));
		awaitNewProcessServingAlone();
		assertThat(get("/").body()).contains("\"greeting\":\"v2\"").contains("\"generation\":3");
		assertThat(this.load.failed() - failedBefore).as(this.load.summary() + "\n" + this.processes.output()).isZero();
	}

	@Test
	@Order(3)
	void upgradeBySignalAndNothingFailedOverTheWholeLife() throws Exception {
		// The next version has a short upgrade timeout: the next test needs one.
		Files.writeString(this.config, "sample.greeting=v2\ntableflip.upgrade-timeout=6s\n");
		ApplicationProcesses.signal("HUP", this.current);
		awaitNewProcessServingAlone();

		assertThat(get("/").body()).contains("\"generation\":4");
		assertThat(this.load.failed()).as(this.load.summary() + "\n" + this.processes.output()).isZero();
		assertThat(this.load.keepAliveOk()).as(this.load.summary()).isGreaterThan(200);
		assertThat(this.load.freshOk()).as(this.load.summary()).isGreaterThan(100);
		assertThat(this.load.pids()).as(this.load.summary()).hasSize(4);
	}

	@Test
	@Order(4)
	void newVersionThatHangsIsKilledAfterTheUpgradeTimeout() throws Exception {
		long failedBefore = this.load.failed();
		Files.writeString(this.config, "sample.greeting=v2\nsample.startup-delay=10m\n");

		Response failed = upgradeByEndpoint();

		assertThat(failed.status()).as(failed.toString()).isEqualTo(503);
		assertThat(failed.body()).contains("\"reason\":\"TIMED_OUT\"");
		long child = Long.parseLong(failed.body().replaceAll(".*\"childPid\":(\\d+).*", "$1"));
		this.processes.track(child);
		assertThat(ApplicationProcesses.alive(child)).as("the hanging process was killed").isFalse();
		assertThat(HttpLoad.pidOf(get("/"))).isEqualTo(this.current);
		assertThat(this.load.failed() - failedBefore).as(this.load.summary()).isZero();
	}

	/** Waits until a new process serves, the old one is gone and the PID file names the new one. */
	private void awaitNewProcessServingAlone() throws Exception {
		long old = this.current;
		this.current = this.processes.awaitServedBy(this.port, (pid) -> pid != old, WAIT);
		this.processes.awaitGone(old, WAIT);
		assertThat(Files.readString(this.deployment.resolve("app.pid")).trim()).isEqualTo(Long.toString(this.current));
	}

	private Response upgradeByEndpoint() throws IOException {
		return HttpLoad.request(ApplicationProcesses.address(this.management), "POST", "/actuator/tableflip/upgrade");
	}

	private Response status() throws IOException {
		return HttpLoad.get(ApplicationProcesses.address(this.management), "/actuator/tableflip");
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
