package dev.tableflip.testsupport;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A private systemd user manager ({@code systemd --user}) for tests: its own runtime and
 * configuration directories under a test's directory, so that it shares nothing with a
 * manager that may already run, and {@code systemctl --user} talking to it. It runs where
 * systemd is installed and {@code /run/systemd/system} exists (systemd checks for that
 * directory); {@link #unavailable()} says why not otherwise.
 */
public final class SystemdUserManager implements AutoCloseable {

	private static final Pattern VERSION = Pattern.compile("^systemd (\\d+)");

	private final Path runtime;

	private final Path units;

	private final Path log;

	private final Process manager;

	private final List<String> started = new ArrayList<>();

	private SystemdUserManager(Path runtime, Path units, Path log, Process manager) {
		this.runtime = runtime;
		this.units = units;
		this.log = log;
		this.manager = manager;
	}

	/** Why no user manager can run here, or {@code null} if one can be tried. */
	public static String unavailable() {
		if (!System.getProperty("os.name", "").toLowerCase().contains("linux")) {
			return "systemd tests need Linux";
		}
		if (systemd() == null || !Files.isExecutable(Path.of("/usr/bin/systemctl"))
				&& !Files.isExecutable(Path.of("/bin/systemctl"))) {
			return "systemd tests skipped: systemd is not installed (apt-get install systemd)";
		}
		if (!Files.isDirectory(Path.of("/run/systemd/system"))) {
			return "systemd tests skipped: /run/systemd/system does not exist, so systemd --user refuses to run "
					+ "(create it: mkdir -p /run/systemd/system; .ci/run does)";
		}
		return null;
	}

	/** The version of the installed systemd ({@code 252}), or 0 if unknown. */
	public static int version() {
		try {
			Process process = new ProcessBuilder("systemctl", "--version").redirectErrorStream(true).start();
			String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
			process.waitFor(10, TimeUnit.SECONDS);
			Matcher matcher = VERSION.matcher(output);
			return matcher.find() ? Integer.parseInt(matcher.group(1)) : 0;
		}
		catch (IOException | InterruptedException ex) {
			return 0;
		}
	}

	/** Starts a user manager with its directories under {@code directory} and waits until it runs. */
	public static SystemdUserManager start(Path directory) throws IOException, InterruptedException {
		Path runtime = Files.createDirectories(directory.resolve("run"));
		Files.setPosixFilePermissions(runtime, PosixFilePermissions.fromString("rwx------"));
		Path config = directory.resolve("config");
		Path units = Files.createDirectories(config.resolve("systemd/user"));
		Path log = directory.resolve("systemd.log");
		ProcessBuilder builder = new ProcessBuilder(systemd(), "--user").redirectErrorStream(true)
			.redirectOutput(log.toFile());
		builder.environment().put("XDG_RUNTIME_DIR", runtime.toString());
		builder.environment().put("XDG_CONFIG_HOME", config.toString());
		Process manager = builder.start();
		SystemdUserManager started = new SystemdUserManager(runtime, units, log, manager);
		long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
		while (System.nanoTime() < deadline) {
			if (!manager.isAlive()) {
				throw new IOException("systemd --user exited with " + manager.exitValue() + ": " + started.log());
			}
			String state = started.systemctlOutput("is-system-running").trim();
			if (state.equals("running") || state.equals("degraded")) {
				return started;
			}
			Thread.sleep(100);
		}
		started.close();
		throw new IOException("systemd --user did not start within 20 s: " + started.log());
	}

	/** Writes a unit file and reloads the manager's configuration. */
	public void install(String name, String content) throws IOException, InterruptedException {
		Files.writeString(this.units.resolve(name), content);
		systemctl("daemon-reload");
	}

	/** The file of an installed unit. */
	public Path unit(String name) {
		return this.units.resolve(name);
	}

	/** Runs {@code systemctl --user} with these arguments and fails unless it succeeds. */
	public String systemctl(String... arguments) throws IOException, InterruptedException {
		if (arguments.length > 0 && arguments[0].equals("start")) {
			for (int i = 1; i < arguments.length; i++) {
				this.started.add(arguments[i]);
			}
		}
		Result result = run(arguments);
		if (result.exitCode() != 0) {
			throw new IOException("systemctl --user " + String.join(" ", arguments) + " exited with "
					+ result.exitCode() + ": " + result.output() + whatHappened(arguments));
		}
		return result.output();
	}

	/** After a job that failed: the status of the units it named (how their processes ended). */
	private String whatHappened(String... arguments) throws IOException, InterruptedException {
		if (arguments.length < 2 || !List.of("start", "restart", "reload").contains(arguments[0])) {
			return "";
		}
		List<String> status = new ArrayList<>(List.of("status", "--no-pager", "--full", "--lines=0"));
		status.addAll(List.of(arguments).subList(1, arguments.length));
		return "\n" + run(status.toArray(String[]::new)).output();
	}

	/** Runs {@code systemctl --user} and returns what it printed, whatever its exit code. */
	public String systemctlOutput(String... arguments) throws IOException, InterruptedException {
		return run(arguments).output();
	}

	/** Properties of a unit ({@code MainPID}, {@code ActiveState}, {@code StatusText}...). */
	public Map<String, String> show(String unit, String... properties) throws IOException, InterruptedException {
		List<String> arguments = new ArrayList<>(List.of("show", unit));
		for (String property : properties) {
			arguments.add("-p");
			arguments.add(property);
		}
		Map<String, String> values = new LinkedHashMap<>();
		for (String line : systemctl(arguments.toArray(String[]::new)).split("\n")) {
			int equals = line.indexOf('=');
			if (equals > 0) {
				values.put(line.substring(0, equals), line.substring(equals + 1));
			}
		}
		return values;
	}

	/** The unit's main pid, 0 if none. */
	public long mainPid(String unit) throws IOException, InterruptedException {
		return Long.parseLong(show(unit, "MainPID").get("MainPID"));
	}

	/** What the manager logged. */
	public String log() {
		try {
			return Files.exists(this.log) ? Files.readString(this.log) : "(no log)";
		}
		catch (IOException ex) {
			return "(cannot read " + this.log + ")";
		}
	}

	/** Stops the units started through {@link #systemctl}, then the manager. */
	@Override
	public void close() {
		try {
			for (int i = this.started.size() - 1; i >= 0; i--) {
				run("stop", this.started.get(i));
			}
			run("exit");
			if (!this.manager.waitFor(20, TimeUnit.SECONDS)) {
				this.manager.destroyForcibly();
			}
		}
		catch (IOException ex) {
			this.manager.destroyForcibly();
		}
		catch (InterruptedException ex) {
			this.manager.destroyForcibly();
			Thread.currentThread().interrupt();
		}
	}

	private record Result(int exitCode, String output) {
	}

	private Result run(String... arguments) throws IOException, InterruptedException {
		List<String> command = new ArrayList<>(List.of("systemctl", "--user"));
		command.addAll(List.of(arguments));
		ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
		builder.environment().put("XDG_RUNTIME_DIR", this.runtime.toString());
		builder.environment().remove("DBUS_SESSION_BUS_ADDRESS");
		Process process = builder.start();
		String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
		if (!process.waitFor(120, TimeUnit.SECONDS)) {
			process.destroyForcibly();
			throw new IOException("systemctl --user " + String.join(" ", arguments) + " did not return within 120 s");
		}
		return new Result(process.exitValue(), output);
	}

	private static String systemd() {
		for (String candidate : List.of("/usr/bin/systemd", "/lib/systemd/systemd", "/usr/lib/systemd/systemd")) {
			if (Files.isExecutable(Path.of(candidate))) {
				return candidate;
			}
		}
		return null;
	}

}
