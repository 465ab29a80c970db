package dev.tableflip.sample;

import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import dev.tableflip.testsupport.ApplicationProcesses;
import dev.tableflip.testsupport.HttpLoad;
import dev.tableflip.testsupport.HttpLoad.Response;
import dev.tableflip.testsupport.WebSocketClients;
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
		this.load = new HttpLoad(ApplicationProcesses.address(this.port), false, "/", 4, 2, HttpLoad.TESTS_PAUSE);
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
	void upgradeBySignalEndsEventStreamsAndWebSocketsCleanlyAndTheyResumeInTheNewProcess() throws Exception {
		long old = this.current;
		EventStream stream = new EventStream(this.port, 0);
		stream.awaitEvents(5);
		WebSocketClients sessions = new WebSocketClients(ApplicationProcesses.address(this.port), false, "/echo", 5);
		assertThat(sessions.pids()).containsExactly(old);
		// The next version has a short upgrade timeout: the last test needs one.
		Files.writeString(this.config, "sample.greeting=v2\ntableflip.upgrade-timeout=6s\n");
		ApplicationProcesses.signal("HUP", old);
		stream.awaitEnd();
		assertThat(stream.failure).as("the stream ended cleanly, not cut").isNull();
		assertThat(stream.oldProcessAliveAtTheEnd).as("ended by the drain, before the old process exited").isTrue();
		assertThat(stream.data).allMatch((data) -> data.endsWith(" from " + old));
		awaitNewProcessServingAlone();
		// each session closed with a close frame, 1001 (going away), and reopened, as a client does, in the new process
		assertThat(sessions.closes()).as(sessions.summary()).containsExactly(Map.entry(1001, 5));
		assertThat(sessions.cuts()).as(sessions.summary()).isEmpty();
		assertThat(sessions.pids()).as(sessions.summary()).containsExactly(this.current);
		sessions.close();

		EventStream resumed = new EventStream(this.port, stream.lastId);
		resumed.awaitEvents(3);
		assertThat(resumed.ids.get(0)).as("resumed with Last-Event-ID: no event lost").isEqualTo(stream.lastId + 1);
		assertThat(resumed.data.get(0)).endsWith(" from " + this.current);
		resumed.close();
		System.out.println("sample, event stream: " + stream.ids.size() + " events from " + old + ", resumed at "
				+ resumed.ids.get(0) + " from " + this.current + "; " + sessions.summary() + ", reopened on "
				+ this.current);
	}

	@Test
	@Order(4)
	void nothingFailedOverTheWholeLife() throws Exception {
		assertThat(get("/").body()).contains("\"generation\":4");
		assertThat(this.load.failed()).as(this.load.summary() + "\n" + this.processes.output()).isZero();
		assertThat(this.load.keepAliveOk()).as(this.load.summary()).isGreaterThan(200);
		assertThat(this.load.freshOk()).as(this.load.summary()).isGreaterThan(100);
		assertThat(this.load.pids()).as(this.load.summary()).hasSize(4);
	}

	@Test
	@Order(5)
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

	/**
	 * A client of {@code GET /events} that reads on a thread of its own, as an
	 * {@code EventSource} would: the ids and data of the events, and how the stream ended.
	 */
	private static final class EventStream {

		final List<Long> ids = new CopyOnWriteArrayList<>();

		final List<String> data = new CopyOnWriteArrayList<>();

		volatile long lastId;

		volatile Throwable failure;

		volatile boolean oldProcessAliveAtTheEnd;

		private final CountDownLatch ended = new CountDownLatch(1);

		private final Thread reader;

		EventStream(int port, long lastEventId) {
			HttpRequest.Builder request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/events"))
				.header("Accept", "text/event-stream");
			if (lastEventId > 0) {
				request.header("Last-Event-ID", Long.toString(lastEventId));
			}
			this.reader = new Thread(() -> read(request.build()), "event-stream");
			this.reader.setDaemon(true);
			this.reader.start();
		}

		private void read(HttpRequest request) {
			try {
				HttpResponse<Stream<String>> response = HttpClient.newBuilder()
					.version(HttpClient.Version.HTTP_1_1)
					.build()
					.send(request, HttpResponse.BodyHandlers.ofLines());
				try (Stream<String> lines = response.body()) {
					lines.forEach((line) -> {
						if (line.startsWith("id:")) {
							this.lastId = Long.parseLong(line.substring(3).trim());
							this.ids.add(this.lastId);
						}
						else if (line.startsWith("data:")) {
							this.data.add(line.substring(5).trim());
						}
					});
				}
				if (!this.data.isEmpty()) { // "tick n from <pid>": was the process that sent it still there?
					String last = this.data.get(this.data.size() - 1);
					this.oldProcessAliveAtTheEnd = ApplicationProcesses.alive(
							Long.parseLong(last.substring(last.lastIndexOf(' ') + 1)));
				}
			}
			catch (Exception | Error ex) {
				this.failure = ex;
			}
			finally {
				this.ended.countDown();
			}
		}

		void awaitEvents(int count) throws InterruptedException {
			long deadline = System.nanoTime() + WAIT.toNanos();
			while (this.ids.size() < count && this.failure == null) {
				assertThat(System.nanoTime()).as("%d events within %s", count, WAIT).isLessThan(deadline);
				Thread.sleep(20);
			}
			assertThat(this.failure).isNull();
		}

		void awaitEnd() throws InterruptedException {
			assertThat(this.ended.await(WAIT.toSeconds(), TimeUnit.SECONDS)).as("the event stream ended").isTrue();
		}

		void close() {
			this.reader.interrupt();
		}

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
