package dev.tableflip.sample;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystem;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

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
 * The sample's Ansible playbook ({@code deploy/rollout.yml}) rolling a release over a fleet, for
 * real: four units of the packaged sample under a private systemd user manager, one "host"
 * each ({@code ansible_connection=local}), in batches of 1, 2 and 1. The third host's copy of
 * the release is broken: its upgrade fails in the second batch, beside a host that upgrades,
 * the rollout stops there, and the fourth host is never touched.
 */
class FleetRolloutIT {

	private static final Duration WAIT = Duration.ofSeconds(90);

	private static final Path PLAYBOOK = Path.of("deploy", "rollout.yml").toAbsolutePath();

	@TempDir
	Path deployment;

	private ApplicationProcesses processes;

	private SystemdUserManager systemd;

	private final List<Host> hosts = new ArrayList<>();

	private record Host(String name, Path directory, int port, int management) {

		String unit() {
			return this.name + ".service";
		}

		Path jar() {
			return this.directory.resolve("sample-app.jar");
		}

	}

	@BeforeEach
	void fleet() throws Exception {
		String unavailable = SystemdUserManager.unavailable();
		assumeTrue(unavailable == null, unavailable);
		assumeTrue(ansiblePlaybook() != null,
				"the fleet rollout needs ansible-playbook (apt-get install ansible-core; .ci/run does)");
		this.processes = new ApplicationProcesses(this.deployment);
		try {
			this.systemd = SystemdUserManager.start(Files.createDirectories(this.deployment.resolve("systemd")));
		}
		catch (IOException ex) {
			assumeTrue(false, "systemd tests skipped: systemd --user does not run here: " + ex.getMessage());
		}
		for (int i = 1; i <= 4; i++) {
			Host host = new Host("host-" + i, Files.createDirectories(this.deployment.resolve("host-" + i)),
					ApplicationProcesses.freePort(), ApplicationProcesses.freePort());
			Files.copy(Path.of(System.getProperty("sample.jar")), host.jar());
			install(host);
			this.hosts.add(host);
		}
		List<String> start = new ArrayList<>(List.of("start"));
		this.hosts.forEach((host) -> start.add(host.unit()));
		try {
			this.systemd.systemctl(start.toArray(String[]::new)); // returns once every unit said READY=1
		}
		catch (IOException ex) {
			throw new IOException(ex.getMessage() + "\n" + output(), ex);
		}
	}

	@AfterEach
	void stopEverything() {
		if (this.systemd != null) {
			this.systemd.close();
		}
		if (this.processes != null) {
			this.processes.close(); // whatever the manager left behind: the units' processes carry the marker
		}
	}

	@Test
	void rolloutUpgradesBatchByBatchAndStopsAtTheFirstHostWhoseUpgradeFails() throws Exception {
		long[] before = new long[4];
		for (int i = 0; i < 4; i++) {
			before[i] = this.systemd.mainPid(this.hosts.get(i).unit());
			assertThat(greeting(this.hosts.get(i))).isEqualTo("hello");
		}
		Path release = release("release 2");
		Path broken = Files.writeString(this.deployment.resolve("broken.jar"), "this is not a jar");

		Rollout rollout = rollOut(release, broken, this.hosts.get(2));

		System.out.println("fleet rollout, batches of 1, 2 and 1, the third host broken: exit code " + rollout.exitCode()
				+ " in " + rollout.took().toMillis() + " ms\n" + rollout.failureAndRecap());
		assertThat(rollout.exitCode()).as("ansible-playbook fails when a host failed: " + rollout).isEqualTo(2);
		assertThat(rollout.output()).as("the failed host and why, in the rollout's output")
			.contains("The upgrade of host-3 failed: failed (CHILD_EXITED): new process")
			.contains("exited with code 1 before it was ready")
			.contains("Process " + before[2] + " serves on with the previous jar back in place");
		for (int i = 0; i < 2; i++) {
			Host host = this.hosts.get(i);
			long main = this.systemd.mainPid(host.unit());
			assertThat(main).as(host.name() + " upgraded: systemd's main pid moved\n" + rollout).isNotEqualTo(before[i]);
			this.processes.track(main);
			this.processes.awaitGone(before[i], WAIT);
			HttpLoad.Response served = get(host, "/");
			assertThat(HttpLoad.pidOf(served)).isEqualTo(main);
			assertThat(served.body()).contains("\"generation\":2", "\"greeting\":\"release 2\"");
			assertThat(Files.mismatch(host.jar(), release)).as("the release is in place").isEqualTo(-1L);
		}
		Host failed = this.hosts.get(2);
		assertThat(this.systemd.mainPid(failed.unit())).isEqualTo(before[2]);
		assertThat(greeting(failed)).isEqualTo("hello");
		assertThat(Files.mismatch(failed.jar(), Path.of(System.getProperty("sample.jar"))))
			.as("the failed host has its previous jar back: a restart runs what runs now").isEqualTo(-1L);
		assertThat(this.systemd.show(failed.unit(), "StatusText").get("StatusText"))
			.contains("Upgrade failed (CHILD_EXITED)");
		Host untouched = this.hosts.get(3);
		assertThat(this.systemd.mainPid(untouched.unit())).isEqualTo(before[3]);
		assertThat(greeting(untouched)).isEqualTo("hello");
		assertThat(Files.mismatch(untouched.jar(), Path.of(System.getProperty("sample.jar")))).isEqualTo(-1L);
		assertThat(HttpLoad.get(ApplicationProcesses.address(untouched.management()), "/actuator/tableflip").body())
			.as("no upgrade was tried on the host after the failed batch")
			.contains("\"attempted\":0");
	}

	private record Rollout(int exitCode, Duration took, String output) {

		/** The failed hosts' lines and the recap, as an operator reads them. */
		String failureAndRecap() {
			int recap = this.output.indexOf("PLAY RECAP");
			return this.output.lines()
				.filter((line) -> line.startsWith("fatal:") || line.startsWith("NO MORE HOSTS"))
				.collect(Collectors.joining("\n")) + "\n" + ((recap >= 0) ? this.output.substring(recap) : "");
		}

		@Override
		public String toString() {
			return "ansible-playbook exited with " + this.exitCode + ":\n" + this.output;
		}

	}

	private Rollout rollOut(Path release, Path broken, Host brokenHost) throws Exception {
		StringBuilder inventory = new StringBuilder("[sample_app]\n");
		for (Host host : this.hosts) {
			inventory.append(host.name())
				.append(" app_jar=")
				.append(host.jar())
				.append(" management_url=http://127.0.0.1:")
				.append(host.management())
				.append(host.equals(brokenHost) ? " release_jar=" + broken : "")
				.append('\n');
		}
		// The release as a group variable, which the broken host's own variable overrides (a variable
		// given with -e would override both).
		inventory.append("\n[sample_app:vars]\nrelease_jar=")
			.append(release)
			.append("\nansible_connection=local\nansible_python_interpreter=auto_silent\n");
		Path file = Files.writeString(this.deployment.resolve("inventory.ini"), inventory);
		Path temp = Files.createDirectories(this.deployment.resolve("ansible"));
		ProcessBuilder builder = new ProcessBuilder(ansiblePlaybook(), "-i", file.toString(), PLAYBOOK.toString(),
				"-e", "{\"rollout_batches\": [1, 2, 1]}")
			.redirectErrorStream(true)
			.redirectOutput(this.deployment.resolve("rollout.log").toFile());
		builder.environment().put("ANSIBLE_NOCOLOR", "1");
		builder.environment().put("ANSIBLE_HOME", temp.toString());
		builder.environment().put("ANSIBLE_LOCAL_TEMP", temp.resolve("local").toString());
		builder.environment().put("ANSIBLE_REMOTE_TEMP", temp.resolve("remote").toString());
		long started = System.nanoTime();
		Process playbook = builder.start();
		if (!playbook.waitFor(5, TimeUnit.MINUTES)) {
			playbook.destroyForcibly();
			throw new AssertionError("the rollout did not end within 5 minutes:\n" + log() + "\n" + output());
		}
		return new Rollout(playbook.exitValue(), Duration.ofNanos(System.nanoTime() - started), log());
	}

	/** The packaged sample, with its greeting changed: what a new release of it looks like. */
	private Path release(String greeting) throws IOException {
		Path release = this.deployment.resolve("release.jar");
		Files.copy(Path.of(System.getProperty("sample.jar")), release);
		try (FileSystem jar = FileSystems.newFileSystem(release)) {
			Path config = Files.createDirectories(jar.getPath("BOOT-INF", "classes", "config"));
			Files.writeString(config.resolve("application.properties"), "sample.greeting=" + greeting + "\n");
		}
		return release;
	}

	private void install(Host host) throws Exception {
		String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
		// the JVMs' temporary files (Spring Boot's Tomcat directories) go with the host's directory
		Path temporary = Files.createDirectories(host.directory().resolve("tmp"));
		this.systemd.install(host.unit(), """
				[Service]
				Type=notify
				WorkingDirectory=%s
				Environment=%s
				ExecStart=%s -Djava.io.tmpdir=%s -XX:TieredStopAtLevel=1 -jar %s --server.port=%d --management.server.port=%d \
				--tableflip.takeover.overlap=1s --tableflip.takeover.probation=1s
				ExecReload=/bin/kill -HUP $MAINPID
				TimeoutStartSec=90
				TimeoutStopSec=30
				StandardOutput=append:%s
				StandardError=inherit
				""".formatted(host.directory(), this.processes.marker(), java, temporary, host.jar(), host.port(),
				host.management(), this.deployment.resolve("service.log")));
	}

	private static String ansiblePlaybook() {
		for (String candidate : List.of("/usr/bin/ansible-playbook", "/usr/local/bin/ansible-playbook")) {
			if (Files.isExecutable(Path.of(candidate))) {
				return candidate;
			}
		}
		return null;
	}

	private static String greeting(Host host) throws IOException {
		return get(host, "/").body().replaceAll(".*\"greeting\":\"([^\"]*)\".*", "$1");
	}

	private static HttpLoad.Response get(Host host, String path) throws IOException {
		return HttpLoad.get(ApplicationProcesses.address(host.port()), path);
	}

	private String log() {
		try {
			Path log = this.deployment.resolve("rollout.log");
			return Files.exists(log) ? Files.readString(log, StandardCharsets.UTF_8) : "(no output)";
		}
		catch (IOException ex) {
			return "(cannot read the rollout's output)";
		}
	}

	private String output() {
		try {
			Path log = this.deployment.resolve("service.log");
			return "services' output:\n" + (Files.exists(log) ? Files.readString(log) : "(none)") + "\nsystemd:\n"
					+ this.systemd.log();
		}
		catch (IOException ex) {
			return "(cannot read the services' output)";
		}
	}

}
