package dev.tableflip.sample;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import dev.tableflip.testsupport.ApplicationProcesses;
import dev.tableflip.testsupport.HttpLoad;
import dev.tableflip.testsupport.SystemdUserManager;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The packaged sample run as a systemd service, under a real (private) systemd user manager,
 * the way an operator runs it: {@code Type=notify}, {@code systemctl reload} for an upgrade, a
 * {@code .socket} unit for socket activation. Skipped, saying why, where systemd cannot run.
 */
class SystemdIT {

	private static final Duration WAIT = Duration.ofSeconds(90);

	private static final String SERVICE = "sample.service";

	@TempDir
	Path deployment;

	private ApplicationProcesses processes;

	private SystemdUserManager systemd;

	private int port;

	private int management;

	@BeforeEach
	void deploy() throws Exception {
		String unavailable = SystemdUserManager.unavailable();
		assumeTrue(unavailable == null, unavailable);
		this.processes = new ApplicationProcesses(this.deployment);
		Files.copy(Path.of(System.getProperty("sample.jar")), this.deployment.resolve("app.jar"));
		Files.writeString(this.deployment.resolve("extra.properties"), "sample.greeting=v1\n");
		this.port = ApplicationProcesses.freePort();
		this.management = ApplicationProcesses.freePort();
		try {
			this.systemd = SystemdUserManager.start(Files.createDirectories(this.deployment.resolve("systemd")));
		}
		catch (IOException ex) {
			// The machine, not the code under test: systemd is installed but cannot run a user manager here.
			assumeTrue(false, "systemd tests skipped: systemd --user does not run here: " + ex.getMessage());
		}
	}

	@AfterEach
	void stopEverything() {
		if (this.systemd != null) {
			this.systemd.close();
		}
		if (this.processes != null) {
			this.processes.close(); // whatever the manager left behind: the unit's processes carry the marker
		}
	}

	/**
	 * The unit as the sample ships it ({@code ExecReload=kill -HUP}, a {@code PIDFile=}, an fd
	 * store, restart on failure): a reload under load, a new process killed in its probation,
	 * the old (main) process killed before the new one is ready, a crash of the main process.
	 * One service's life: every start of it costs seconds.
	 */
	@Test
	void notifyUnitWithAnFdStoreReloadsRollsBackAndSurvivesACrash() throws Exception {
		// systemd 254+ sets FDSTORE itself from FileDescriptorStoreMax=; older ones need it said.
		install("notify", "PIDFile=" + this.deployment.resolve("main.pid")
				+ "\nFileDescriptorStoreMax=8\nEnvironment=FDSTORE=8\nRestart=on-failure\nRestartSec=100ms\n");
		this.systemd.systemctl("start", SERVICE); // returns once the service said READY=1
		long main = this.systemd.mainPid(SERVICE);
		assertThat(HttpLoad.pidOf(get("/"))).as("the main pid serves").isEqualTo(main);
		assertThat(status()).contains("Serving: generation 1");

		main = reloadUnderLoadMovesTheMainPid(main);
		newProcessKilledInItsProbationLeavesTheMainPidServing(main);
		main = oldProcessKilledBeforeTheNewOneIsReadyLeavesTheNewOneAsTheMainPid(main);
		fileDescriptorStoreKeepsTheListenerThroughACrashOfTheMainProcess(main);
	}

	private long reloadUnderLoadMovesTheMainPid(long main) throws Exception {
		long current;
		try (HttpLoad load = new HttpLoad(ApplicationProcesses.address(this.port), false, "/", 4, 2, HttpLoad.TESTS_PAUSE)) {
			Thread.sleep(1000);
			// ExecReload=kill -HUP returns at once; the old process then says RELOADING=1, READY=1 once
			// the new process is ready, and MAINPID=<new> once its probation is over.
			this.systemd.systemctl("reload", SERVICE);
			current = awaitMainPidOtherThan(main);
			this.processes.awaitGone(main, WAIT);
			assertThat(this.systemd.mainPid(SERVICE)).isEqualTo(current);
			assertUnitRunsWithoutRestart();
			awaitStatus("Serving: generation 2");
			Thread.sleep(1000);
			load.close();
			System.out.println("systemd, a reload under load: " + load.summary());
			assertThat(load.failed()).as(load.summary() + "\n" + output()).isZero();
			assertThat(load.pids()).containsExactlyInAnyOrder(main, current);
		}
		assertThat(HttpLoad.pidOf(get("/"))).isEqualTo(current);
		assertThat(Files.readString(this.deployment.resolve("main.pid"))).isEqualTo(current + "\n");
		return current;
	}

	/**
	 * The main process is killed once the new process holds the sockets and before it is ready
	 * (it warms up for 5 s): systemd reads the unit's PID file, which names the new process from
	 * that moment, and takes it for the main process instead of stopping the unit.
	 */
	private long oldProcessKilledBeforeTheNewOneIsReadyLeavesTheNewOneAsTheMainPid(long main) throws Exception {
		Files.writeString(this.deployment.resolve("extra.properties"),
				"sample.greeting=v1\ntableflip.warmup.requests[0].path=/\ntableflip.warmup.duration=5s\n");
		long child;
		try (HttpLoad load = new HttpLoad(ApplicationProcesses.address(this.port), false, "/", 4, 2, HttpLoad.TESTS_PAUSE)) {
			Thread.sleep(500);
			this.systemd.systemctl("reload", SERVICE);
			child = awaitHandedOffByTheMainProcess(main);
			ApplicationProcesses.signal("KILL", main);

			assertThat(awaitMainPidOtherThan(main)).as("systemd's main pid\n" + output()).isEqualTo(child);
			awaitStatus("Starting: process " + child);
			awaitStatus("Serving: generation");
			assertThat(status()).contains("process " + child + ",");
			assertUnitRunsWithoutRestart();
			Thread.sleep(500);
			load.close();
			System.out.println("systemd, main process killed before the new one was ready, under load: "
					+ load.summary());
			assertThat(load.failed()).as("at most the requests in flight on the killed process: " + load.summary())
				.isLessThanOrEqualTo(6);
			assertThat(load.pids()).contains(child);
		}
		assertThat(HttpLoad.pidOf(get("/"))).isEqualTo(child);
		Files.writeString(this.deployment.resolve("extra.properties"), "sample.greeting=v1\n");
		return child;
	}

	/** The new process the main process handed the sockets to, once the unit's PID file names it. */
	private long awaitHandedOffByTheMainProcess(long main) throws Exception {
		Pattern handed = Pattern.compile(" " + main + " --- .*Handed \\d+ descriptor\\(s\\) to new process (\\d+)");
		Path pidFile = this.deployment.resolve("main.pid");
		long deadline = System.nanoTime() + WAIT.toNanos();
		while (System.nanoTime() < deadline) {
			Matcher matcher = handed.matcher(output());
			long child = -1;
			while (matcher.find()) { // the last: earlier upgrades handed sockets over too
				child = Long.parseLong(matcher.group(1));
			}
			if (child > 0) {
				this.processes.track(child);
				if (Files.readString(pidFile).equals(child + "\n")) {
					return child;
				}
			}
			Thread.sleep(20);
		}
		throw new AssertionError("process " + main + " handed no sockets over, or " + pidFile
				+ " does not name the new process\n" + output());
	}

	/** Active, running, never restarted, and no failure recorded (systemd took no death of a main pid as one). */
	private void assertUnitRunsWithoutRestart() throws Exception {
		assertThat(this.systemd.show(SERVICE, "ActiveState", "SubState", "NRestarts", "Result"))
			.containsEntry("ActiveState", "active")
			.containsEntry("SubState", "running")
			.containsEntry("NRestarts", "0")
			.containsEntry("Result", "success");
	}

	private void newProcessKilledInItsProbationLeavesTheMainPidServing(long main) throws Exception {
		// The next version has a long probation: long enough to kill it in the middle of it.
		Files.writeString(this.deployment.resolve("extra.properties"),
				"sample.greeting=v1\ntableflip.takeover.probation=30s\n");
		this.systemd.systemctl("reload", SERVICE);
		awaitStatus("Probation: new process"); // said with READY=1: the unit is active again
		// A second reload runs in the probation: refused, and systemd reads the PID file after its kill.
		this.systemd.systemctl("reload", SERVICE);
		awaitStatus("refused (IN_PROGRESS): an upgrade is in progress: new process");
		long child = Long.parseLong(status().replaceAll(".*: new process (\\d+) is on probation.*", "$1"));
		this.processes.track(child);
		assertThat(this.systemd.mainPid(SERVICE)).as("systemd did not take the new process over in its probation")
			.isEqualTo(main);
		assertThat(Files.readString(this.deployment.resolve("main.pid"))).isEqualTo(main + "\n");
		ApplicationProcesses.signal("KILL", child);

		awaitStatus("Upgrade rolled back (PROBATION_FAILED)");
		assertThat(status()).contains("new process " + child + " exited with code 137 (SIGKILL)")
			.contains("process " + main + " took the service back");
		assertThat(this.systemd.mainPid(SERVICE)).isEqualTo(main);
		assertThat(Files.readString(this.deployment.resolve("main.pid"))).as("the unit's PID file names the main pid again")
			.isEqualTo(main + "\n");
		assertThat(this.systemd.show(SERVICE, "ActiveState", "NRestarts")).containsEntry("ActiveState", "active")
			.containsEntry("NRestarts", "0");
		assertThat(HttpLoad.pidOf(get("/"))).isEqualTo(main);
		assertThat(HttpLoad.get(ApplicationProcesses.address(this.management), "/actuator/tableflip").body())
			.contains("\"state\":\"ready\"", "\"outcome\":\"rolled_back\"", "\"reason\":\"PROBATION_FAILED\"");
		Files.writeString(this.deployment.resolve("extra.properties"), "sample.greeting=v1\n");
	}

	private void fileDescriptorStoreKeepsTheListenerThroughACrashOfTheMainProcess(long main) throws Exception {
		// The listener in the store came from generation 1 and survived two upgrades.
		try (HttpLoad load = new HttpLoad(ApplicationProcesses.address(this.port), false, "/", 0, 4, HttpLoad.TESTS_PAUSE)) {
			Thread.sleep(1000);
			ApplicationProcesses.signal("KILL", main);
			long restarted = awaitMainPidOtherThan(main);
			awaitStatus("Serving: generation 1");
			Thread.sleep(1000);
			load.close();
			System.out.println("systemd fd store, kill -9 of the main process under load: " + load.summary());
			assertThat(load.refused()).as("connections refused while no process ran: " + load.summary() + "\n"
					+ output()).isZero();
			assertThat(load.failed()).as("at most the requests in flight on the killed process: " + load.summary())
				.isLessThanOrEqualTo(4);
			assertThat(load.pids()).contains(restarted);
		}
		assertThat(output()).as("the restarted process took the stored sockets")
			.contains("socket(s) from systemd socket activation");
		assertThat(this.systemd.show(SERVICE, "NRestarts").get("NRestarts")).isEqualTo("1");
	}

	/**
	 * A {@code .socket} unit holds the listener, and {@code ExecReload=curl … /upgrade} makes
	 * {@code systemctl reload} wait for the upgrade and fail with it: a full restart refuses
	 * nothing, a reload to a broken jar fails and says why, a reload to the repaired jar upgrades.
	 */
	@Test
	void socketActivatedServiceWithABlockingReloadRefusesNothingAndFailsAReloadToABrokenJar() throws Exception {
		assumeTrue(Files.isExecutable(Path.of("/usr/bin/curl")), "needs curl for ExecReload (apt-get install curl)");
		this.systemd.install("sample.socket", """
				[Socket]
				ListenStream=127.0.0.1:%d
				FileDescriptorName=http
				Service=%s
				""".formatted(this.port, SERVICE));
		install("notify", "Sockets=sample.socket\n");
		// The endpoint answers once the upgrade is over, and curl -f fails on its 503: systemctl reload
		// waits for the upgrade and fails with it.
		this.systemd.install(SERVICE, Files.readString(this.systemd.unit(SERVICE))
			.replace("ExecReload=/bin/kill -HUP $MAINPID",
					"ExecReload=/usr/bin/curl -fsS -X POST http://127.0.0.1:" + this.management + "/actuator/tableflip/upgrade"));
		this.systemd.systemctl("start", "sample.socket");
		this.systemd.systemctl("start", SERVICE);
		long first = this.systemd.mainPid(SERVICE);
		String tableflip = HttpLoad.get(ApplicationProcesses.address(this.management), "/actuator/tableflip").body();
		assertThat(tableflip).as("the server took systemd's socket").contains("listener tcp 127.0.0.1:" + this.port);
		assertThat(output()).contains("Took 1 socket(s) from systemd socket activation");

		// Fresh connections only: a full stop closes idle keep-alive connections, which clients must redo.
		try (HttpLoad load = new HttpLoad(ApplicationProcesses.address(this.port), false, "/", 0, 4, HttpLoad.TESTS_PAUSE)) {
			Thread.sleep(1000);
			this.systemd.systemctl("restart", SERVICE); // stop: nothing accepts; start: the queue is served
			long second = this.systemd.mainPid(SERVICE);
			assertThat(second).as(output()).isNotEqualTo(first);
			assertThat(ApplicationProcesses.alive(first)).isFalse();
			Thread.sleep(1000);

			long third = blockingReloadToABrokenJarFailsThenTheRepairedJarUpgrades(second);

			Thread.sleep(1000);
			load.close();
			System.out.println("systemd socket activation, restart and reloads under load: " + load.summary());
			assertThat(load.failed()).as(load.summary() + "\n" + output()).isZero();
			assertThat(load.pids()).containsExactlyInAnyOrder(first, second, third);
		}
	}

	private long blockingReloadToABrokenJarFailsThenTheRepairedJarUpgrades(long main) throws Exception {
		Path jar = this.deployment.resolve("app.jar");
		Path good = this.deployment.resolve("good.jar");
		Files.copy(jar, good);
		Path broken = this.deployment.resolve("broken.jar");
		Files.write(broken, "this is not a jar".getBytes(StandardCharsets.US_ASCII));
		Files.move(broken, jar, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);

		String reload = this.systemd.systemctlOutput("reload", SERVICE);

		assertThat(reload).as("systemctl reload fails with the upgrade").contains("failed");
		assertThat(this.systemd.mainPid(SERVICE)).isEqualTo(main);
		assertThat(status()).as(output()).contains("Upgrade failed (CHILD_EXITED)").contains("Serving: generation 1");
		assertThat(this.systemd.show(SERVICE, "ActiveState")).containsEntry("ActiveState", "active");
		assertThat(HttpLoad.pidOf(get("/"))).isEqualTo(main);

		Files.move(good, jar, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
		this.systemd.systemctl("reload", SERVICE); // returns once the new process is ready: its probation starts
		assertThat(status()).as("when the blocking reload returned").startsWith("Probation: new process");
		long current = awaitMainPidOtherThan(main); // once the probation is over
		this.processes.awaitGone(main, WAIT);
		assertThat(HttpLoad.pidOf(get("/"))).isEqualTo(current);
		return current;
	}

	@Test
	void notifyReloadUnitUpgradesOnItsOwnReloadSignal() throws Exception {
		int version = SystemdUserManager.version();
		assumeTrue(version >= 253, "Type=notify-reload needs systemd 253 or later, this is systemd " + version);
		install("notify-reload", "");
		this.systemd.systemctl("start", SERVICE);
		long old = this.systemd.mainPid(SERVICE);

		this.systemd.systemctl("reload", SERVICE); // systemd sends SIGHUP and waits for RELOADING=1, READY=1

		long current = this.systemd.mainPid(SERVICE);
		assertThat(current).isNotEqualTo(old);
		this.processes.awaitGone(old, WAIT);
		assertThat(HttpLoad.pidOf(get("/"))).isEqualTo(current);
	}

	private void install(String type, String extra) throws Exception {
		String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
		String reload = type.equals("notify") ? "ExecReload=/bin/kill -HUP $MAINPID\n" : "";
		String address = extra.contains("Sockets=") ? " --server.address=127.0.0.1" : "";
		// the JVMs' temporary files (Spring Boot's Tomcat directories) go with the deployment
		Path temporary = Files.createDirectories(this.deployment.resolve("tmp"));
		this.systemd.install(SERVICE, """
				[Service]
				Type=%s
				WorkingDirectory=%s
				Environment=%s
				ExecStart=%s -Djava.io.tmpdir=%s -XX:TieredStopAtLevel=1 -jar app.jar --server.port=%d%s --management.server.port=%d \
				--spring.config.additional-location=file:extra.properties --tableflip.takeover.overlap=1s
				%sTimeoutStartSec=90
				TimeoutStopSec=30
				StandardOutput=append:%s
				StandardError=inherit
				%s""".formatted(type, this.deployment, this.processes.marker(), java, temporary, this.port, address,
				this.management, reload, this.deployment.resolve("service.log"), extra));
	}

	private long awaitMainPidOtherThan(long old) throws Exception {
		long deadline = System.nanoTime() + WAIT.toNanos();
		long main;
		while ((main = this.systemd.mainPid(SERVICE)) == old || main == 0) {
			if (System.nanoTime() > deadline) {
				throw new AssertionError("MainPID is still " + main + "\n" + output());
			}
			Thread.sleep(100);
		}
		return main;
	}

	private String status() throws Exception {
		return this.systemd.show(SERVICE, "StatusText").get("StatusText");
	}

	private void awaitStatus(String expected) throws Exception {
		long deadline = System.nanoTime() + WAIT.toNanos();
		while (!status().contains(expected)) {
			if (System.nanoTime() > deadline) {
				throw new AssertionError("StatusText is '" + status() + "', expected '" + expected + "'\n" + output());
			}
			Thread.sleep(100);
		}
	}

	private HttpLoad.Response get(String path) throws IOException {
		return HttpLoad.get(ApplicationProcesses.address(this.port), path);
	}

	private String output() {
		try {
			Path log = this.deployment.resolve("service.log");
			return "service output:\n" + (Files.exists(log) ? Files.readString(log) : "(none)") + "\nsystemd:\n"
					+ this.systemd.log();
		}
		catch (IOException ex) {
			return "(cannot read the service's output)";
		}
	}

}
