package dev.tableflip.spring.boot.it;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;

import dev.tableflip.testsupport.ApplicationProcesses;
import dev.tableflip.testsupport.HeldWebSocketHandshake;
import dev.tableflip.testsupport.Http2Load;
import dev.tableflip.testsupport.HttpLoad;
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
 * The life of one real Spring Boot service, upgraded again and again in a real process tree
 * while a client sends requests all the time over keep-alive and fresh connections, each of
 * its workers pausing {@link HttpLoad#TESTS_PAUSE} between two requests. The tests are the
 * events of that life, in order, on the same service and under the same load: upgrades by
 * endpoint and by signal, new versions that fail in each way a version can fail, a new version
 * with another configuration (a renewed certificate, another endpoint access). After each
 * event, and over the whole life, no request failed
 * (non-2xx answers count as failures). Subclasses choose the server, and skip the events that
 * are decided apart from it. The service speaks HTTPS (an SSL bundle on its own port) unless a
 * subclass says otherwise, and its last upgrade brings a renewed certificate.
 *
 * <p>One life rather than one service per test: a process start costs seconds, and the suite
 * must fit in CI's time. Every process reads the configuration the test writes to
 * {@code next.properties} when it starts, so the test decides what the next version is (a broken
 * one, an unhealthy one, one with another endpoint access) by writing that file before an upgrade.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
abstract class UpgradeUnderLoadTests {

	private static final Duration WAIT = Duration.ofSeconds(90);

	/** Shorter than the default, so that the life fits in CI's time; long enough to see both processes. */
	private static final Duration OVERLAP = Duration.ofSeconds(3);

	/** Warm-up requests of every process: enough to tell whose they were, few enough to keep the life short. */
	private static final int WARMUP = 100;

	/** How many threads open new connections at once to see which process answers during the overlap. */
	private static final int PROBERS = 3;

	/** What a draining process logs once it has listed its WebSocket sessions. */
	private static final String WEBSOCKET_SWEEP = "WebSocket session(s) with 1001 (going away)";

	/** How many WebSocket sessions the life holds. */
	private static final int WEBSOCKETS = 5;

	/**
	 * How many of them keep the server's handler working on their session nearly all the time
	 * (a server thread is busy with it at any instant the drain looks).
	 */
	private static final int BUSY_WEBSOCKETS = 1;

	/** Where the service lives: its configuration, PID file, records and output. */
	private Path directory;

	private ApplicationProcesses processes;

	private int port;

	private int management;

	private Path records;

	private HttpLoad load;

	/** The HTTP/2 load beside it, when the service speaks HTTP/2. */
	private Http2Load http2Load;

	/** WebSocket sessions held over the whole life, each reopened when the server closes it. */
	private WebSocketClients webSockets;

	/** The process that serves now. */
	private long current;

	private int succeeded;

	/** The key store the next version serves its certificate from, when it speaks TLS. */
	private Path keyStore;

	private int failed;

	/** Arguments that select the server under test. */
	abstract List<String> serverArguments();

	/** Whether the service speaks HTTPS on its port. */
	boolean tls() {
		return true;
	}

	/**
	 * Whether the service speaks HTTP/2 too ({@code server.http2.enabled}; {@code h2} by ALPN
	 * over TLS), under an HTTP/2 load beside the HTTP/1.1 one.
	 */
	boolean http2() {
		return false;
	}

	/** The configuration that makes a version serve TLS with the certificate in {@code keyStore} (PKCS12). */
	List<String> tlsProperties(Path keyStore) {
		return List.of("server.ssl.bundle=web", "spring.ssl.bundle.jks.web.keystore.location=file:" + keyStore,
				"spring.ssl.bundle.jks.web.keystore.password=secret", "spring.ssl.bundle.jks.web.keystore.type=PKCS12");
	}

	/** Options of every process's JVM. */
	List<String> jvmOptions() {
		return List.of();
	}

	/** The command that starts the test application with these arguments. */
	List<String> command(List<String> arguments) {
		return ApplicationProcesses.command(UpgradableApplication.class, jvmOptions(), arguments);
	}

	@BeforeAll
	void startTheServiceUnderLoad(@TempDir Path directory) throws Exception {
		this.directory = directory;
		this.processes = new ApplicationProcesses(this.directory);
		this.port = ApplicationProcesses.freePort();
		this.management = ApplicationProcesses.freePort();
		this.records = Files.createDirectories(this.directory.resolve("records"));
		if (tls()) {
			this.keyStore = keyStore("tableflip-1");
			this.processes.overTls();
		}
		nextVersion();
		List<String> arguments = new ArrayList<>(serverArguments());
		arguments.add("--server.port=" + this.port);
		arguments.add("--spring.config.additional-location=optional:file:" + this.directory.resolve("next.properties"));
		this.current = this.processes.start(this.port, command(arguments), null);
		this.load = new HttpLoad(address(), tls(), "/", 4, 2, HttpLoad.TESTS_PAUSE);
		if (http2()) {
			this.http2Load = new Http2Load(address(), tls(), "/", 4, 2, HttpLoad.TESTS_PAUSE);
		}
		this.webSockets = new WebSocketClients(address(), tls(), "/echo", WEBSOCKETS, BUSY_WEBSOCKETS);
		Thread.sleep(500);
	}

	/** Ends the life: nothing may have failed over all of it, whichever of its events ran. */
	@AfterAll
	void stopTheService() throws InterruptedException {
		try {
			if (this.load != null) {
				this.load.close();
				if (this.http2Load != null) {
					this.http2Load.close();
				}
				this.webSockets.close();
				System.out.println(getClass().getSimpleName() + ", " + this.succeeded + " upgrades and " + this.failed
						+ " failed upgrades under one load: " + summary());
				assertThat(failedSoFar()).as("failed over the whole life: " + summary() + "\n"
						+ this.processes.output()).isZero();
				assertThat(this.webSockets.cuts()).as(this.webSockets.summary()).isEmpty();
			}
		}
		finally {
			this.processes.close();
		}
	}

	/**
	 * Writes the configuration the next process reads at its start: the service's own and,
	 * for this version only, {@code more}.
	 */
	private void nextVersion(String... more) throws IOException {
		List<String> lines = new ArrayList<>(List.of("tableflip.pid-file=" + this.directory.resolve("app.pid"),
				"management.server.port=" + this.management, "management.server.address=127.0.0.1",
				"management.endpoints.web.exposure.include=health,tableflip,metrics",
				"management.endpoint.tableflip.access=unrestricted",
				"tableflip.takeover.overlap=" + OVERLAP.toMillis() + "ms",
				// the drain closes the WebSocket sessions one after another over this window
				"tableflip.websocket-close-window=1s",
				// every process warms up, and writes how often /warm was called at its shutdown
				"tableflip.warmup.requests[0].path=/warm", "tableflip.warmup.count=" + WARMUP,
				"it.record-dir=" + this.records,
				// the health gate on a group that holds the application's own contributor, and a probe
				"tableflip.health-gate.enabled=true", "tableflip.health-gate.groups=gate",
				"management.endpoint.health.group.gate.include=it", "tableflip.health-gate.probe-path=/",
				"tableflip.health-gate.timeout=3s",
				// a drain waits this long for requests in flight (Spring's graceful shutdown)
				"spring.lifecycle.timeout-per-shutdown-phase=4s",
				// and no sooner does Spring MVC end an asynchronous request (30 s by default: an upgrade on a
				// loaded machine can take most of that, and the request meant to be cut by the drain timed out)
				"spring.mvc.async.request-timeout=5m"));
		if (this.keyStore != null) {
			lines.addAll(tlsProperties(this.keyStore));
		}
		if (http2()) {
			lines.add("server.http2.enabled=true");
		}
		lines.addAll(List.of(more));
		Files.write(this.directory.resolve("next.properties"), lines);
	}

	@Test
	@Order(1)
	void theFirstProcessWarmsUpToo() throws Exception {
		assertThat(HttpLoad.get(address(), tls(), "/warm-hits").body()).contains("\"warmHits\":" + WARMUP);
		assertThat(status()).contains("\"generation\":1", "\"startedBy\":\"start\"", "\"state\":\"ready\"");
	}

	@Test
	@Order(2)
	void upgradeOnTheManagementPortWithSlowRequestsInFlightAndAnOverlapOfBothProcesses() throws Exception {
		long old = this.current;
		long failedBefore = failedSoFar();
		Instant upgradeStarted = Instant.now();
		assertThat(this.webSockets.pids()).as("WebSocket sessions before the upgrade").containsExactly(old);
		int webSocketClosesBefore = this.webSockets.closedAt().size();
		ExecutorService clients = Executors.newFixedThreadPool(4 + PROBERS);
		try {
			List<Future<HttpLoad.Response>> slow = new ArrayList<>();
			for (int i = 0; i < 4; i++) {
				slow.add(clients.submit(() -> HttpLoad.get(address(), tls(), "/slow?ms=4000")));
			}
			Thread.sleep(300);

			// The endpoint answers once the new process passed its warm-up and health gate and is ready.
			int sweepsBefore = logged(WEBSOCKET_SWEEP);
			this.current = upgradeByEndpoint();
			// A WebSocket handshake still under way in the old process when its drain lists the sessions: begun on
			// a connection of the old process during the overlap, finished once the drain has looked (below).
			HeldWebSocketHandshake lateSession = HeldWebSocketHandshake.begin(address(), tls(), "/echo", old,
					OVERLAP.dividedBy(2));

			// During the overlap both processes answer, each in its turns (the new process's part of each 100 ms
			// grows from none to all over the overlap: about a third of these new connections on average), and
			// the old one says it is in the new one's probation.
			long windowEnds = System.nanoTime() + OVERLAP.minusSeconds(1).toNanos();
			Map<Long, Integer> duringOverlap = new ConcurrentHashMap<>();
			List<Future<?>> probers = probeNewConnections(clients, windowEnds, duringOverlap);
			boolean oldSaidProbation = false;
			while (System.nanoTime() < windowEnds && !oldSaidProbation) {
				String status = status();
				oldSaidProbation = status.contains("\"pid\":" + old) && status.contains("\"state\":\"probation\"");
			}
			for (Future<?> prober : probers) {
				prober.get();
			}
			System.out.println(getClass().getSimpleName() + ": new connections answered by each process during the "
					+ "overlap: " + duringOverlap + " (old " + old + ", new " + this.current + ")");
			assertThat(duringOverlap.keySet()).as("pids answering during the overlap").containsExactlyInAnyOrder(old,
					this.current);
			int probes = duringOverlap.values().stream().mapToInt(Integer::intValue).sum();
			assertThat(duringOverlap.get(this.current)).as("the new process's turns during the overlap: " + duringOverlap)
				.isGreaterThanOrEqualTo(probes / 10);
			assertThat(oldSaidProbation).as("the old process reports the probation").isTrue();

			awaitLogged(WEBSOCKET_SWEEP, sweepsBefore + 1);
			try (lateSession) {
				HttpLoad.Response handshake = lateSession.finish();
				assertThat(handshake.status()).as("a WebSocket handshake finished in the old process's drain: " + handshake)
					.isEqualTo(101);
				assertThat(lateSession.awaitClose(WAIT))
					.as("how the old process closed a WebSocket session opened after its drain listed them\n"
							+ this.processes.output())
					.isEqualTo(1001);
			}

			for (Future<HttpLoad.Response> request : slow) {
				HttpLoad.Response response = request.get();
				assertThat(response.status()).as(response + "\n" + this.processes.output()).isEqualTo(200);
				assertThat(HttpLoad.pidOf(response)).as("a slow request finished where it began").isEqualTo(old);
			}
		}
		finally {
			clients.shutdownNow();
		}
		awaitHandedOver(old);
		// the upgrade is in the metrics of the process that serves now, which are scraped
		assertThat(awaitMetric("tableflip.handover.duration")).contains("{\"statistic\":\"COUNT\",\"value\":1.0}");
		assertThat(awaitMetric("tableflip.upgrades?tag=outcome:succeeded"))
			.contains("{\"statistic\":\"COUNT\",\"value\":1.0}");
		assertThat(awaitMetric("tableflip.upgrade.duration?tag=outcome:succeeded"))
			.contains("{\"statistic\":\"COUNT\",\"value\":1.0}");
		// and its phases before ready, each an observation of the new process (Boot's meter handler times them)
		assertThat(awaitMetric("tableflip.step?tag=step:warm-up")).contains("{\"statistic\":\"COUNT\",\"value\":1.0}");
		Instant drainStarted = loggedAt("Draining process " + old);
		assertWebSocketsMovedOver(webSocketClosesBefore, drainStarted);
		if (this.http2Load != null) {
			// HTTP/2 connections were told to go (GOAWAY) one by one during the overlap, not all at the drain
			assertThat(this.http2Load.goAwaysBetween(upgradeStarted, drainStarted))
				.as("GOAWAY frames received during the overlap, before the old process drained at " + drainStarted
						+ ": " + this.http2Load.summary())
				.isPositive();
		}

		Set<Long> after = new HashSet<>();
		for (int i = 0; i < 50; i++) {
			after.add(HttpLoad.pidOf(HttpLoad.get(address(), tls(), "/")));
		}
		assertThat(after).as("pids answering after the overlap").containsExactly(this.current);
		assertThat(HttpLoad.get(address(), tls(), "/warm-hits").body()).as("the new process's warm-up")
			.contains("\"warmHits\":" + WARMUP);
		assertThat(Files.readString(this.records.resolve("warm-" + old)))
			.as("the old process saw only its own warm-up, none of the new one's").isEqualTo(Integer.toString(WARMUP));
		assertThat(status()).contains("\"generation\":2").doesNotContain("\"step\"");
		assertNothingFailedSince(failedBefore);
	}

	@Test
	@Order(3)
	void unknownEndpointActionsAreNotFound() throws Exception {
		HttpLoad.Response unknown = post("/actuator/tableflip/downgrade");
		assertThat(unknown.status()).as(unknown.toString()).isEqualTo(404);
		assertThat(unknown.body()).contains("unknown action 'downgrade'");
	}

	@Test
	@Order(5)
	void newVersionWhoseWarmupFailsLeavesTheOldOneServing() throws Exception {
		failedUpgrade("warm-up", "\"reason\":\"CHILD_FAILED\"", "warm-up failed: GET /warm answered 500");
	}

	@Test
	@Order(6)
	void newVersionThatIsNotHealthyLeavesTheOldOneServing() throws Exception {
		failedUpgrade("unhealthy", "\"reason\":\"CHILD_FAILED\"", "health gate failed: health group 'gate' is DOWN");
	}

	@Test
	@Order(7)
	void newVersionThatFailsAfterItsServerStartedTookNoConnectionWithIt() throws Exception {
		failedUpgrade("after-start", "\"reason\":\"CHILD_EXITED\"", "\"exitCode\":1");
	}

	// A version that fails during its refresh: its certificate cannot be read, and the SSL bundle
	// fails the web server's creation (the same path as any bean that fails, one start less).
	@Test
	@Order(8)
	void newVersionWhoseCertificateCannotBeReadLeavesTheOldOneServing() throws Exception {
		Path missing = this.directory.resolve("renewed-but-not-there.p12");
		failedUpgrade(tlsProperties(missing), "\"reason\":\"CHILD_EXITED\"", "\"exitCode\":1");
	}

	@Test
	@Order(9)
	void upgradeBySignalToARenewedCertificateAndAReadOnlyEndpointAndTheLineageOfTheWholeLife() throws Exception {
		long failedBefore = failedSoFar();
		long old = this.current;
		int webSocketClosesBefore = this.webSockets.closedAt().size();
		if (tls()) {
			assertThat(HttpLoad.servedCertificate(address())).isEqualTo("CN=tableflip-1");
			this.keyStore = keyStore("tableflip-2");
		}
		// a request that runs longer than the old process's drain can wait: it is cut, and named in its log. Its
		// client waits longer than the load's 30 s: on a slow machine the new process took 30 s to be ready, and a
		// client that gave up before the drain took the request with it (Reactor Netty cancels it)
		ExecutorService client = Executors.newSingleThreadExecutor();
		Future<HttpLoad.Response> tooSlow = client
			.submit(() -> HttpLoad.request(address(), tls(), "GET", "/slow?ms=120000"));
		Thread.sleep(300);
		nextVersion("management.endpoint.tableflip.access=read-only");
		try {
			upgradeBySignal();
		}
		finally {
			client.shutdown();
		}
		nextVersion();
		assertNothingFailedSince(failedBefore);
		assertWebSocketsMovedOver(webSocketClosesBefore, loggedAt("Draining process " + old));
		assertThat(this.processes.output()).as("the old process named the request it cut")
			.containsPattern("request\\(s\\) still running when the web server stops .*: GET /slow\\?ms=120000 \\(for \\d");
		try {
			// Jetty ends a cut asynchronous request with an empty 200 (and Connection: close)
			HttpLoad.Response response = tooSlow.get();
			assertThat(response.body()).as("the request was cut, not answered: " + response).doesNotContain("slept");
		}
		catch (ExecutionException ex) {
			// cut: the connection closed under it (Tomcat, Reactor Netty)
		}
		if (tls()) {
			assertThat(HttpLoad.servedCertificate(address())).as("the new process serves the renewed certificate")
				.isEqualTo("CN=tableflip-2");
		}
		HttpLoad.Response refused = post("/actuator/tableflip/upgrade");
		assertThat(refused.status()).as("an upgrade over HTTP needs unrestricted access: " + refused).isIn(404, 405);
		assertThat(this.webSockets.closes()).as("every upgrade closed every session once: " + this.webSockets.summary())
			.containsExactly(Map.entry(1001, WEBSOCKETS * this.succeeded));

		String status = status();
		assertThat(status).as("the lineage after the life's upgrades")
			.contains("\"pid\":" + this.current)
			.contains("\"generation\":" + (this.succeeded + 1))
			.contains("\"startedBy\":\"signal\"")
			.containsPattern("\"upgrades\":\\{[^}]*\"succeeded\":" + this.succeeded)
			.containsPattern("\"upgrades\":\\{[^}]*\"failed\":" + this.failed);
		assertThat(this.load.keepAliveOk()).as(this.load.summary()).isGreaterThan(200);
		assertThat(this.load.freshOk()).as(this.load.summary()).isGreaterThan(100);
		assertThat(this.load.pids()).as(this.load.summary()).hasSize(this.succeeded + 1);
		if (this.http2Load != null) {
			assertThat(this.http2Load.pids()).as(this.http2Load.summary()).hasSize(this.succeeded + 1);
			assertThat(this.http2Load.goAways()).as("each HTTP/2 connection was told to go: " + this.http2Load.summary())
				.isGreaterThanOrEqualTo(this.succeeded);
		}
	}

	/** An upgrade to a version that fails in the way {@code fault} names (see {@link UpgradableApplication}). */
	private void failedUpgrade(String fault, String... expected) throws Exception {
		failedUpgrade(List.of("it.fault=" + fault), expected);
	}

	/** An upgrade to a version with {@code configuration} that fails, as {@code expected} says. */
	private void failedUpgrade(List<String> configuration, String... expected) throws Exception {
		long failedBefore = failedSoFar();
		Set<Long> servedBefore = this.load.pids();
		nextVersion(configuration.toArray(String[]::new));
		try {
			HttpLoad.Response response = post("/actuator/tableflip/upgrade");
			assertThat(response.status()).as(response + "\n" + this.processes.output()).isEqualTo(503);
			assertThat(response.body()).contains(expected);
			this.failed++;
		}
		finally {
			nextVersion();
		}
		Thread.sleep(500);
		assertNothingFailedSince(failedBefore);
		assertThat(this.load.pids()).as("no one else answered").isEqualTo(servedBefore);
		assertThat(status()).contains("\"pid\":" + this.current, "\"state\":\"ready\"", "\"outcome\":\"failed\"");
		// the failed upgrade as an observation: Boot's meter handler times it, in the process that serves on
		assertThat(awaitMetric("tableflip.upgrade?tag=outcome:failed")).contains("{\"statistic\":\"COUNT\",\"value\":");
	}

	/**
	 * Opens new connections until {@code ends} and counts in {@code answered} the pids that
	 * answered them: from {@link #PROBERS} threads of {@code clients} at once, each pausing a
	 * random part of the 100 ms slot before each connection. The turns are set by the clock in
	 * slots of 100 ms, so a single prober whose round trip lasts about a slot would find every
	 * slot at about the same moment (on a slow machine a TLS probe took 95 ms, and 20 of 21
	 * probes fell in the old process's part).
	 */
	private List<Future<?>> probeNewConnections(ExecutorService clients, long ends, Map<Long, Integer> answered) {
		List<Future<?>> probers = new ArrayList<>();
		for (int i = 0; i < PROBERS; i++) {
			probers.add(clients.submit(() -> {
				while (System.nanoTime() < ends) {
					Thread.sleep(ThreadLocalRandom.current().nextLong(100));
					answered.merge(HttpLoad.pidOf(HttpLoad.get(address(), tls(), "/")), 1, Integer::sum);
				}
				return null;
			}));
		}
		return probers;
	}

	private long upgradeByEndpoint() throws IOException {
		HttpLoad.Response response = post("/actuator/tableflip/upgrade");
		assertThat(response.status()).as(response + "\n" + this.processes.output()).isEqualTo(200);
		long next = Long.parseLong(response.body().replaceAll(".*\"childPid\":(\\d+).*", "$1"));
		this.processes.track(next);
		return next;
	}

	private void upgradeBySignal() throws Exception {
		long old = this.current;
		assertThat(this.processes.output()).as("SIGHUP reaches the service: the tests must not run under nohup")
			.doesNotContain("SIGHUP is ignored by this process");
		ApplicationProcesses.signal("HUP", old);
		this.current = this.processes.awaitServedBy(this.port, (pid) -> pid != old, WAIT);
		this.processes.track(this.current);
		awaitHandedOver(old);
	}

	/** The old process is gone; the new one serves alone and the PID file names it. */
	private void awaitHandedOver(long old) throws Exception {
		this.processes.awaitGone(old, WAIT);
		assertThat(this.processes.output()).as("the old process drained without an error").doesNotContain("Draining failed");
		if (serverArguments().contains("--tableflip.takeover.start-nice=1")) {
			assertThat(this.processes.output().lines().filter((line) -> line.contains(" " + old + " --- ")))
				.as("the old process exits at the new processes' start priority once it served its last request")
				.anyMatch((line) -> line.contains("Exiting at nice 1 ("));
		}
		this.succeeded++;
		assertThat(Files.readString(this.directory.resolve("app.pid")).trim()).isEqualTo(Long.toString(this.current));
		long now = this.current;
		this.processes.awaitServedBy(this.port, (pid) -> pid == now, WAIT);
	}

	/**
	 * Each WebSocket session in the old process was closed with a close frame, 1001 (going
	 * away), during its drain, the closes spread over the window rather than all at once; each
	 * client opened its next session in the new process, and none was cut: the busy one too.
	 */
	private void assertWebSocketsMovedOver(int closesBefore, Instant drainStarted) throws Exception {
		List<Instant> closes = this.webSockets.closedAt();
		assertThat(closes.subList(closesBefore, closes.size()))
			.as(this.webSockets.summary() + ", the drain began at " + drainStarted + "\n" + this.processes.output())
			.hasSize(WEBSOCKETS)
			.allMatch((closed) -> closed.isAfter(drainStarted));
		assertThat(Duration.between(closes.get(closesBefore), closes.get(closes.size() - 1)))
			.as("the closes spread over tableflip.websocket-close-window (1 s): " + closes)
			.isGreaterThan(Duration.ofMillis(500));
		assertThat(this.webSockets.closes()).as(this.webSockets.summary()).containsOnlyKeys(1001);
		assertThat(this.webSockets.cuts()).as(this.webSockets.summary()).isEmpty();
		assertThat(this.webSockets.pids()).as("WebSocket sessions after the upgrade").containsExactly(this.current);
	}

	private void assertNothingFailedSince(long failedBefore) {
		assertThat(failedSoFar() - failedBefore).as(summary() + "\n" + this.processes.output()).isZero();
	}

	/** How many lines the processes logged that contain {@code text}. */
	private int logged(String text) {
		return (int) this.processes.output().lines().filter((line) -> line.contains(text)).count();
	}

	/** Waits until the processes logged {@code times} lines that contain {@code text}. */
	private void awaitLogged(String text, int times) throws InterruptedException {
		long deadline = System.nanoTime() + WAIT.toNanos();
		while (logged(text) < times) {
			assertThat(System.nanoTime()).as("'" + text + "' logged " + times + " times\n" + this.processes.output())
				.isLessThan(deadline);
			Thread.sleep(20);
		}
	}

	/** When a process logged the line that contains {@code text} (Boot's log lines begin with the time). */
	private Instant loggedAt(String text) {
		String output = this.processes.output();
		return output.lines()
			.filter((line) -> line.contains(text))
			.map((line) -> OffsetDateTime.parse(line.substring(0, line.indexOf(' '))).toInstant())
			.findFirst()
			.orElseThrow(() -> new AssertionError("no line with '" + text + "' in the " + output));
	}

	/** Requests failed so far, over HTTP/1.1 and HTTP/2. */
	private long failedSoFar() {
		return this.load.failed() + (this.http2Load != null ? this.http2Load.failed() : 0);
	}

	private String summary() {
		return this.load.summary() + (this.http2Load != null ? "\n" + this.http2Load.summary() : "") + "\n"
				+ this.webSockets.summary();
	}

	/** A key store (PKCS12, password "secret") with a new self-signed certificate for 127.0.0.1 named {@code name}. */
	private Path keyStore(String name) throws Exception {
		return keyStore(this.directory, name);
	}

	/**
	 * A key store (PKCS12, password "secret", alias "web") in {@code directory} with a new
	 * self-signed certificate for 127.0.0.1 named {@code name}.
	 */
	static Path keyStore(Path directory, String name) throws Exception {
		Path keyStore = directory.resolve(name + ".p12");
		Process keytool = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "keytool").toString(),
				"-genkeypair", "-alias", "web", "-keyalg", "EC", "-groupname", "secp256r1", "-dname", "CN=" + name,
				"-ext", "san=ip:127.0.0.1,dns:localhost", "-validity", "2", "-storetype", "PKCS12", "-keystore",
				keyStore.toString(), "-storepass", "secret", "-keypass", "secret")
			.redirectErrorStream(true)
			.start();
		String output = new String(keytool.getInputStream().readAllBytes());
		assertThat(keytool.waitFor()).as("keytool: " + output).isZero();
		return keyStore;
	}

	/** A POST on the management port, which speaks TLS when the service's port does (Boot's rule). */
	private HttpLoad.Response post(String path) throws IOException {
		return HttpLoad.request(managementAddress(), tls(), "POST", path);
	}

	/** A meter of the serving process, once it is there (a new process records an upgrade once the old one is gone). */
	private String awaitMetric(String nameAndTags) throws Exception {
		HttpLoad.Response response = null;
		for (int attempt = 0; attempt < 50; attempt++) {
			response = HttpLoad.get(managementAddress(), tls(), "/actuator/metrics/" + nameAndTags);
			if (response.status() == 200) {
				return response.body();
			}
			Thread.sleep(100);
		}
		throw new AssertionError("no meter " + nameAndTags + " in process " + this.current + ": " + response);
	}

	private String status() throws IOException {
		return HttpLoad.get(managementAddress(), tls(), "/actuator/tableflip").body();
	}

	private InetSocketAddress address() {
		return ApplicationProcesses.address(this.port);
	}

	private InetSocketAddress managementAddress() {
		return ApplicationProcesses.address(this.management);
	}

}
