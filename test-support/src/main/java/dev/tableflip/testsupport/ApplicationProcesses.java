package dev.tableflip.testsupport;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.LongPredicate;
import java.util.stream.Stream;

/**
 * Starts Spring Boot applications (a main class or a packaged jar) as real JVM processes and kills every process a test
 * saw (each pid that answered, wrote the PID file or descends from a started one) when the
 * test ends, passed or not, then deletes the temporary directory it gave the JVMs. Their output
 * goes to a log file that failure messages include.
 */
public final class ApplicationProcesses implements AutoCloseable {

	/** Below this, ports are left to the system's own services. */
	private static final int FIRST_FREE_PORT = 10_000;

	/** The ports {@link #freePort()} gave, so that it never gives one twice. */
	private static final Set<Integer> handedOut = ConcurrentHashMap.newKeySet();

	private final Path log;

	private final Set<Long> pids = ConcurrentHashMap.newKeySet();

	private final List<Process> roots = new ArrayList<>();

	/** Where the started JVMs make their temporary files; created with the first, guarded by {@link #roots}. */
	private Path temporary;

	/**
	 * Set in the environment of every process started here; new processes started by an
	 * upgrade inherit it, so {@link #close()} finds them even when no test learned their pid.
	 */
	private final String marker = "TABLEFLIP_TEST_RUN=" + UUID.randomUUID();

	/** Whether the applications' port speaks TLS: the requests that wait for them use it then. */
	private volatile boolean tls;

	public ApplicationProcesses(Path directory) {
		this.log = directory.resolve("application.log");
	}

	/** The applications' port speaks TLS from now on. */
	public void overTls() {
		this.tls = true;
	}

	/**
	 * The java command line that runs a main class of this JVM's class path, with the flags
	 * tableflip needs.
	 */
	public static List<String> command(Class<?> mainClass, List<String> jvmOptions, List<String> arguments) {
		List<String> command = new ArrayList<>();
		command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
		command.add("-XX:TieredStopAtLevel=1");
		command.add("-Xshare:auto");
		command.add("--add-opens");
		command.add("java.base/sun.nio.ch=ALL-UNNAMED");
		if (Runtime.version().feature() >= 22) {
			command.add("--enable-native-access=ALL-UNNAMED");
		}
		command.addAll(jvmOptions);
		command.add("-cp");
		command.add(System.getProperty("java.class.path"));
		command.add(mainClass.getName());
		command.addAll(arguments);
		return command;
	}

	/**
	 * Starts an application with a command line and waits until it answers on {@code port}
	 * and is ready.
	 * @param directory the working directory, {@code null} for this one
	 */
	public long start(int port, List<String> command, Path directory) throws IOException {
		ProcessBuilder builder = new ProcessBuilder(withOwnTemporaryDirectory(command));
		mark(builder);
		if (directory != null) {
			builder.directory(directory.toFile());
		}
		Process process = builder.redirectErrorStream(true)
			.redirectOutput(ProcessBuilder.Redirect.appendTo(this.log.toFile()))
			.start();
		synchronized (this.roots) {
			this.roots.add(process);
		}
		this.pids.add(process.pid());
		awaitServedBy(port, (pid) -> pid == process.pid(), Duration.ofSeconds(60));
		if (command.contains("--tableflip.enabled=false")) {
			awaitStarted(process.pid(), Duration.ofSeconds(60));
		}
		else {
			awaitReady(process.pid(), Duration.ofSeconds(60));
		}
		return process.pid();
	}

	/**
	 * Starts an application beside a running one (the port may be served already) and returns
	 * at once.
	 */
	public long startBeside(List<String> command, Path directory) throws IOException {
		ProcessBuilder builder = new ProcessBuilder(withOwnTemporaryDirectory(command));
		mark(builder);
		Process process = builder.directory(directory.toFile())
			.redirectErrorStream(true)
			.redirectOutput(ProcessBuilder.Redirect.appendTo(this.log.toFile()))
			.start();
		synchronized (this.roots) {
			this.roots.add(process);
		}
		this.pids.add(process.pid());
		return process.pid();
	}

	/** Waits until a process logged that tableflip considers it ready. */
	public void awaitReady(long pid, Duration timeout) {
		awaitOutput("Process " + pid + " is ready", timeout);
	}

	/** Waits until Spring Boot logged that the application with this pid started. */
	public void awaitStarted(long pid, Duration timeout) {
		long deadline = System.nanoTime() + timeout.toNanos();
		while (output().lines().noneMatch((line) -> line.contains(" " + pid + " ") && line.contains("Started "))) {
			if (System.nanoTime() > deadline) {
				throw new AssertionError("process " + pid + " not started within " + timeout + "\n" + output());
			}
			sleep(50);
		}
	}

	private void awaitOutput(String ready, Duration timeout) {
		long deadline = System.nanoTime() + timeout.toNanos();
		while (!output().contains(ready)) {
			if (System.nanoTime() > deadline) {
				throw new AssertionError("no '" + ready + "' within " + timeout + "\n" + output());
			}
			sleep(50);
		}
	}

	/** Waits until a GET / on the port is answered by a process that matches. */
	public long awaitServedBy(int port, LongPredicate match, Duration timeout) {
		long deadline = System.nanoTime() + timeout.toNanos();
		String last = "nothing";
		while (System.nanoTime() < deadline) {
			try {
				HttpLoad.Response response = HttpLoad.get(address(port), this.tls, "/");
				if (response.status() == 200) {
					long pid = HttpLoad.pidOf(response);
					this.pids.add(pid);
					if (match.test(pid)) {
						return pid;
					}
				}
				last = response.toString();
			}
			catch (IOException ex) {
				last = ex.toString();
			}
			sleep(100);
		}
		throw new AssertionError("port " + port + " not served as expected within " + timeout + " (last: " + last
				+ ")\n" + output());
	}

	/**
	 * Waits for a process this instance started itself to exit, and returns its exit status.
	 * @throws AssertionError if it was not started here or still runs after {@code timeout}
	 */
	public int awaitExitStatus(long pid, Duration timeout) throws InterruptedException {
		Process process;
		synchronized (this.roots) {
			process = this.roots.stream().filter((root) -> root.pid() == pid).findFirst().orElse(null);
		}
		if (process == null) {
			throw new AssertionError("process " + pid + " was not started by this test");
		}
		if (!process.waitFor(timeout.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS)) {
			throw new AssertionError("process " + pid + " still runs after " + timeout + "\n" + output());
		}
		return process.exitValue();
	}

	/** Remembers a pid to kill at the end, learned elsewhere (PID file, endpoint). */
	public void track(long pid) {
		this.pids.add(pid);
	}

	public static boolean alive(long pid) {
		return ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false);
	}

	/**
	 * The new JVM that {@code parent} started (its only child), once that JVM runs, or
	 * {@code -1} if none ran within {@code timeout}. Not earlier: the JDK launches a process
	 * through a short-lived copy of the parent (whose executable is java too) that executes a
	 * helper ({@code jspawnhelper}), which executes the command only once the parent handed it
	 * over. Killing the parent before then ends the launch, not a new JVM (measured: 1 run in 25
	 * of a test that killed the parent as soon as its child's executable was java). A JVM that
	 * runs has started a thread of its own; the copy and the helper have one thread.
	 */
	public static long awaitChildJvm(long parent, Duration timeout) {
		long deadline = System.nanoTime() + timeout.toNanos();
		while (System.nanoTime() < deadline) {
			ProcessHandle child = ProcessHandle.of(parent).flatMap((handle) -> handle.children().findFirst()).orElse(null);
			if (child != null && child.info().command().map((command) -> command.endsWith("/java")).orElse(false)
					&& threads(child.pid()) > 1) {
				return child.pid();
			}
			sleep(1);
		}
		return -1;
	}

	private static long threads(long pid) {
		try (var tasks = Files.list(Path.of("/proc", Long.toString(pid), "task"))) {
			return tasks.count();
		}
		catch (IOException | RuntimeException ex) {
			return 0; // gone, or not there yet
		}
	}

	/** Waits until any process (not only one of these) is gone. */
	public static void awaitExit(long pid, Duration timeout) {
		long deadline = System.nanoTime() + timeout.toNanos();
		while (alive(pid)) {
			if (System.nanoTime() > deadline) {
				throw new AssertionError("process " + pid + " still runs after " + timeout);
			}
			sleep(20);
		}
	}

	/** Waits until a process is gone, failing with what the processes printed if it is not. */
	public void awaitGone(long pid, Duration timeout) {
		try {
			awaitExit(pid, timeout);
		}
		catch (AssertionError ex) {
			throw new AssertionError(ex.getMessage() + "\n" + output(), ex);
		}
	}

	/** Sends a signal with kill(1). */
	public static void signal(String signal, long pid) throws IOException, InterruptedException {
		Process kill = new ProcessBuilder("kill", "-" + signal, Long.toString(pid)).inheritIO().start();
		if (kill.waitFor() != 0) {
			throw new IOException("kill -" + signal + " " + pid + " failed");
		}
	}

	public static InetSocketAddress address(int port) {
		return new InetSocketAddress(InetAddress.getLoopbackAddress(), port);
	}

	/**
	 * A port for a server that a test starts later: one nothing is bound to now, on any address,
	 * below the kernel's ephemeral range, and not handed out before by this JVM. A port from the
	 * ephemeral range (what binding port 0 gives) may be taken before the server binds it, as the
	 * local port of an outgoing connection or by a listener on port 0; on CI, where Maven's
	 * downloads hold many such ports, a unit of the sample once failed to start that way, or so
	 * it seems (its output was lost).
	 */
	public static int freePort() throws IOException {
		int ephemeral = ephemeralRangeStart();
		int lowest = Math.max(FIRST_FREE_PORT, ephemeral - 12_000);
		if (ephemeral - lowest < 1_000) { // a range that starts low leaves no room below it: the kernel's pick
			try (ServerSocket socket = new ServerSocket(0)) {
				return socket.getLocalPort();
			}
		}
		for (int attempt = 0; attempt < 200; attempt++) {
			int port = ThreadLocalRandom.current().nextInt(lowest, ephemeral);
			if (!handedOut.add(port)) {
				continue;
			}
			try (ServerSocket socket = new ServerSocket()) {
				socket.setReuseAddress(false); // in use in any state, even TIME_WAIT: another
				socket.bind(new InetSocketAddress(port));
				return port;
			}
			catch (IOException inUse) {
				// another one
			}
		}
		throw new IOException("no free port between " + lowest + " and " + ephemeral + " in 200 attempts");
	}

	/** The first port of the kernel's ephemeral range ({@code net.ipv4.ip_local_port_range}; Linux's default 32768). */
	private static int ephemeralRangeStart() {
		try {
			return Integer.parseInt(Files.readString(Path.of("/proc/sys/net/ipv4/ip_local_port_range")).trim()
				.split("\\s+")[0]);
		}
		catch (IOException | RuntimeException ex) {
			return 32768;
		}
	}

	/** What the processes printed. */
	public String output() {
		try {
			return Files.exists(this.log) ? "output of the processes:\n" + Files.readString(this.log) : "(no output)";
		}
		catch (IOException ex) {
			return "(cannot read " + this.log + ")";
		}
	}

	/**
	 * The {@code NAME=value} environment entry that marks this instance's processes: give it
	 * to processes started by others (a systemd unit's {@code Environment=}) so that
	 * {@link #close()} finds and kills them too.
	 */
	public String marker() {
		return this.marker;
	}

	/**
	 * A java command line with a temporary directory of this instance's, which {@link #close()}
	 * deletes: Spring Boot's Tomcat and Jetty directories go there, which it asks the JVM to
	 * delete at exit (an empty directory only) and a killed JVM does not delete at all. New
	 * processes started by an upgrade run the same command line. The directory is directly in
	 * the system's one, so that a handoff socket made in it keeps a short path. A command that
	 * sets {@code java.io.tmpdir} itself keeps its own (the later flag wins); other commands are
	 * returned as they are.
	 */
	private List<String> withOwnTemporaryDirectory(List<String> command) throws IOException {
		if (command.isEmpty() || !Path.of(command.get(0)).getFileName().toString().equals("java")) {
			return command;
		}
		synchronized (this.roots) {
			if (this.temporary == null) {
				this.temporary = Files.createTempDirectory("app");
			}
		}
		List<String> withDirectory = new ArrayList<>(command);
		withDirectory.add(1, "-Djava.io.tmpdir=" + this.temporary);
		return withDirectory;
	}

	/** Deletes the temporary directory of the processes, once they are gone. */
	private void deleteTemporaryDirectory() {
		Path directory;
		synchronized (this.roots) {
			directory = this.temporary;
			this.temporary = null;
		}
		if (directory == null) {
			return;
		}
		try (Stream<Path> paths = Files.walk(directory)) {
			paths.sorted(Comparator.reverseOrder()).forEach((path) -> {
				try {
					Files.deleteIfExists(path);
				}
				catch (IOException ex) {
					// left behind in the system's temporary directory, which is all it costs
				}
			});
		}
		catch (IOException ex) {
			// as above
		}
	}

	private void mark(ProcessBuilder builder) {
		int equals = this.marker.indexOf('=');
		builder.environment().put(this.marker.substring(0, equals), this.marker.substring(equals + 1));
	}

	/** Every running process whose environment carries this instance's marker. */
	private void findMarked() {
		ProcessHandle.allProcesses().forEach((handle) -> {
			try {
				byte[] environment = Files.readAllBytes(Path.of("/proc", Long.toString(handle.pid()), "environ"));
				if (new String(environment, java.nio.charset.StandardCharsets.ISO_8859_1).contains(this.marker)) {
					this.pids.add(handle.pid());
				}
			}
			catch (IOException | RuntimeException ex) {
				// gone, or not ours to read
			}
		});
	}

	@Override
	public void close() {
		findMarked();
		synchronized (this.roots) {
			for (Process root : this.roots) {
				root.descendants().forEach((handle) -> this.pids.add(handle.pid()));
			}
		}
		for (long pid : this.pids) {
			ProcessHandle.of(pid).ifPresent((handle) -> {
				handle.descendants().forEach(ProcessHandle::destroyForcibly);
				handle.destroyForcibly();
			});
		}
		for (long pid : this.pids) {
			ProcessHandle.of(pid).ifPresent((handle) -> {
				try {
					handle.onExit().get(10, TimeUnit.SECONDS);
				}
				catch (Exception ex) {
					// reported by the test that cares
				}
			});
		}
		deleteTemporaryDirectory();
	}

	private static void sleep(long millis) {
		try {
			Thread.sleep(millis);
		}
		catch (InterruptedException ex) {
			Thread.currentThread().interrupt();
			throw new AssertionError("interrupted");
		}
	}

}
