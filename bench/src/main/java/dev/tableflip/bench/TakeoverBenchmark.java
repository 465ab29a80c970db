package dev.tableflip.bench;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.DoubleSummaryStatistics;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

import dev.tableflip.testsupport.ApplicationProcesses;
import dev.tableflip.testsupport.HttpLoad;
import org.HdrHistogram.Histogram;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.BitmapEncoder.BitmapFormat;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries.XYSeriesRenderStyle;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * What an upgrade does to latency and throughput while the service is busy, and what the
 * overlap, the warm-up and a lower CPU priority do about it. The sample (Tomcat) runs under an
 * open-loop, constant-rate load ({@link OpenLoopLoad}) at fractions of its warm capacity; every
 * 100 ms the benchmark records throughput and p99 latency; around each of several upgrades it
 * compares the window from the trigger to 10 s after the new process is ready with the steady
 * state, measured before the first upgrade and again after each one, once the old process has
 * exited and the load has settled.
 * <p>
 * The capacity is what a client that is not the bottleneck drives flat out on the same
 * connections: wrk if it is installed (the rate derives from it), and this benchmark's own
 * client beside it; the report gives both, each with its own CPU use, and the CPU the load
 * client used at the offered rate, and how late its own thread woke for a due request (it shares
 * the CPUs it measures). After the upgrades of each run, the same jar is started cold
 * beside the loaded process (other ports, no handoff) so that the handoff's own cost shows.
 * Upgrades are triggered by SIGHUP (what systemd's ExecReload sends) or by the endpoint.
 * Modes: the plain handoff (Go tableflip's rule), the overlap (the defaults), the warm-up, both,
 * both with the new process at a low CPU priority until it is ready
 * ({@code tableflip.takeover.start-nice}), the recommended settings ({@code jit}: that, with a
 * warm-up that waits until the JIT is idle), and on JDK 25 and later both with an AOT cache.
 * Each JDK, load and mode is one run, whose 100 ms bins are written as CSV. Writes a table and a
 * timeline plot.
 *
 * <pre>
 * java -jar bench/target/bench.jar takeover [--jar sample-app/target/sample-app.jar]
 *      [--upgrades 5] [--loads 0.5,0.25 (fractions of the capacity)] [--rate N (instead of --loads)]
 *      [--jdks /usr/lib/jvm/java-17-openjdk-amd64/bin/java,... (default: this JVM's)] [--overlap 5s]
 *      [--warmup 3000] [--connections 16] [--start-nice 19] [--doc docs/performance.md] [--plot docs/takeover.png]
 *      [--trigger hup|endpoint] [--modes plain,overlap,warmup,both,nice,jit,aot]
 *      [--max-duration 40s (of a warm-up that waits for the JIT; the upgrade timeout is 2 min more, at least 180 s)]</pre>
 * The table replaces what stands between the markers {@value #BEGIN} and {@value #END} in the doc.
 */
final class TakeoverBenchmark {

	/** The upgrade timeout, unless a warm-up may take longer (--max-duration): then 2 minutes more. */
	private static final Duration MIN_WAIT = Duration.ofSeconds(180);

	/** The markers in the documentation between which the benchmark writes its table. */
	private static final String BEGIN = "<!-- takeover benchmark: begin -->";

	private static final String END = "<!-- takeover benchmark: end -->";

	private static final long BIN_MS = 100;

	private static final long AFTER_MS = 10_000;

	/**
	 * How long the steady state is measured before the first upgrade. Over 20 s the same settings
	 * measured a steady p99 of 2.0 in one run and 3.0 ms in the next.
	 */
	private static final long FIRST_STEADY_MS = 40_000;

	/**
	 * How long the steady state is measured again after each upgrade, so that the steady state
	 * spans the run as its upgrades do, the machine's noise of the moment and the processes that
	 * took over included, not only its first minute.
	 */
	private static final long NEXT_STEADY_MS = 15_000;

	/** How long after a new process is ready the steady state may be measured again. */
	private static final long STEADY_AFTER_READY_MS = 25_000;

	/** Bins shown in the plot, relative to the moment the new process is ready. */
	private static final long PLOT_FROM_MS = -30_000;

	private static final long PLOT_TO_MS = 12_000;

	/** What a run of the sample is told, beyond its port. */
	enum Mode {

		PLAIN("plain handoff (overlap 0, no warm-up)"), OVERLAP("overlap"), WARMUP("warm-up"),
		BOTH("overlap + warm-up"), NICE("overlap + warm-up, new process at nice 19 until ready"),
		JIT("overlap + warm-up until the JIT is idle, new process at nice 19 until ready"),
		AOT("overlap + warm-up + JDK 25 AOT cache");

		final String title;

		Mode(String title) {
			this.title = title;
		}

	}

	/**
	 * One 100 ms bin: when it ended (ms since the load started), answers, p99 and max latency (ms), and
	 * the p99 of how late the client woke (ms).
	 */
	record Bin(long atMs, long answered, double p99Ms, double maxMs, double clientLateP99Ms) {
	}

	/** A window of the steady state (ms since the load started) and its p99 (ms). */
	record Window(long fromMs, long toMs, double p99Ms) {
	}

	/** One upgrade: when it was triggered and when the new process was ready (ms since the load started). */
	record Upgrade(long triggeredMs, long readyMs, long oldPid, long newPid) {
	}

	/** What a client drove flat out, and the CPU it used doing so (in cores: 1.0 is one core busy). */
	record Capacity(String client, double requestsPerSecond, double cpuCores) {
	}

	/** The capacity of the sample on one JDK: the first client's sets the rate. */
	record Capacities(List<Capacity> clients) {

		double rate(double load) {
			return Math.round(this.clients.get(0).requestsPerSecond() * load / 100) * 100;
		}

		String describe() {
			return String.join("; ", this.clients.stream()
				.map((c) -> String.format("%s %.0f/s (the client itself: %.2f cores)", c.client(), c.requestsPerSecond(),
						c.cpuCores()))
				.toList());
		}

	}

	/**
	 * How late the load client's own thread woke for a due request ({@link OpenLoopLoad#sampleLateness()}),
	 * in the steady windows and while upgrading: the part of a latency that may be the client's.
	 */
	record ClientLateness(Histogram steady, Histogram upgrading) {

		String describe() {
			return String.format("%.2f / %.2f", ms(this.steady, 99), ms(this.upgrading, 99));
		}

	}

	/** What one run (a JDK, a load and a mode) measured. */
	record Result(String jdk, double load, Mode mode, double rate, Capacities capacities, List<Bin> bins,
			List<Upgrade> upgrades, List<Window> steadyWindows, Histogram steady, Histogram starting, Histogram after,
			ClientLateness clientLateness, long failed, long answered, String firstFailure, double clientCpuCores,
			long coldStartMs, MachineProbe.Reading machine) {

		/** From each trigger to 10 s after ready. */
		Histogram upgrading() {
			Histogram all = this.starting.copy();
			all.add(this.after);
			return all;
		}

		/**
		 * The lowest share of the offered rate answered in a second from a trigger to 10 s after
		 * ready. A second's share is over the time its bins cover (from the end of the bin before
		 * to the end of its last), not a nominal 1000 ms: the sampler's bins are about 100 ms apart,
		 * and a second holding 9 of them read as 90 %.
		 */
		double minOneSecondShare() {
			double min = Double.MAX_VALUE;
			for (Upgrade upgrade : this.upgrades) {
				long from = upgrade.triggeredMs();
				long to = upgrade.readyMs() + AFTER_MS;
				for (long second = from; second + 1000 <= to; second += 1000) {
					long answered = 0;
					long start = -1;
					long end = -1;
					for (int i = 1; i < this.bins.size(); i++) {
						Bin bin = this.bins.get(i);
						if (bin.atMs() > second && bin.atMs() <= second + 1000) {
							start = (start < 0) ? this.bins.get(i - 1).atMs() : start;
							end = bin.atMs();
							answered += bin.answered();
						}
					}
					if (end > start && start >= 0) {
						min = Math.min(min, answered / (this.rate * (end - start) / 1000.0));
					}
				}
			}
			return min;
		}

		String title() {
			return String.format("%s, %s, %.0f/s", this.jdk, this.mode.name().toLowerCase(), this.rate);
		}

	}

	private final Path work;

	private final Map<String, String> options;

	private final Path jar;

	/** How long an upgrade may take, and the benchmark waits for one: its upgrade timeout. */
	private final Duration wait;

	private TakeoverBenchmark(Path jar, Path work, Map<String, String> options, Duration warmupLimit) {
		this.jar = jar;
		this.work = work;
		this.options = options;
		this.wait = (warmupLimit.plusMinutes(2).compareTo(MIN_WAIT) > 0) ? warmupLimit.plusMinutes(2) : MIN_WAIT;
	}

	public static void main(String[] args) throws Exception {
		Map<String, String> options = Options.parse(args,
				List.of("jar", "upgrades", "loads", "rate", "jdks", "overlap", "warmup", "warmup-concurrency",
						"connections", "start-nice", "doc", "plot", "trigger", "max-duration", "modes"),
				"java -jar bench/target/bench.jar takeover [--jar sample-app/target/sample-app.jar] [--upgrades 5]\n"
						+ "    [--loads 0.5,0.25 (fractions of the capacity)] [--rate N (instead of --loads)]\n"
						+ "    [--jdks /path/to/bin/java,... (default: this JVM's)] [--overlap 5s] [--warmup 3000 (or 15s)]\n"
						+ "    [--warmup-concurrency 2] [--connections 16] [--start-nice 19] [--trigger hup|endpoint]\n"
						+ "    [--max-duration 40s] [--modes plain,overlap,warmup,both,nice,jit,aot]\n"
						+ "    [--doc docs/performance.md] [--plot docs/takeover.png]");
		Path jar = Path.of(options.getOrDefault("jar", "sample-app/target/sample-app.jar")).toAbsolutePath();
		if (!Files.isReadable(jar)) {
			System.err.println("No sample jar at " + jar + ": build it with ./mvnw -pl sample-app -am package -DskipTests");
			System.exit(2);
		}
		if (!List.of("hup", "endpoint").contains(options.getOrDefault("trigger", "hup"))) {
			System.err.println("--trigger must be hup or endpoint, not " + options.get("trigger"));
			System.exit(2);
		}
		Duration warmupLimit;
		try {
			warmupLimit = Duration.parse("PT" + options.getOrDefault("max-duration", "40s").toUpperCase());
		}
		catch (DateTimeParseException ex) {
			System.err.println("--max-duration must be seconds or minutes, such as 120s or 3m, not "
					+ options.get("max-duration"));
			System.exit(2);
			return;
		}
		Path work = Files.createTempDirectory("tableflip-takeover");
		TakeoverBenchmark benchmark = new TakeoverBenchmark(jar, work, options, warmupLimit);
		List<String> jdks = List.of(options.getOrDefault("jdks", UpgradeBenchmark.java()).split(","));
		double fixedRate = Double.parseDouble(options.getOrDefault("rate", "0"));
		List<Double> loads = (fixedRate > 0) ? List.of(0.0)
				: Arrays.stream(options.getOrDefault("loads", "0.5").split(",")).map(Double::parseDouble).toList();
		List<Mode> modes = Arrays.stream(options.getOrDefault("modes", "plain,overlap,warmup,both,aot").split(","))
			.map((name) -> Mode.valueOf(name.trim().toUpperCase()))
			.toList();
		List<Result> results = new ArrayList<>();
		for (String jdk : jdks) {
			Capacities capacities = null;
			for (double load : loads) {
				for (Mode mode : modes) {
					List<String> launcher = List.of(jdk, "-jar", jar.toString());
					if (mode == Mode.AOT) {
						launcher = UpgradeBenchmark.aotLauncher(Path.of(jdk), jar, Files.createTempDirectory(work, "aot"));
						if (launcher == null) {
							System.out.println("Skipping the AOT mode on " + jdk + ": it made no AOT cache (JDK 25 and later do)");
							continue;
						}
					}
					if (capacities == null) {
						capacities = benchmark.capacities(launcher);
						System.out.println("capacity on " + jdk + ": " + capacities.describe());
					}
					double rate = (fixedRate > 0) ? fixedRate : capacities.rate(load);
					MachineProbe.Reading machine = MachineProbe.read();
					System.out.println("machine before the run: " + machine);
					if (machine.cannotMeasure() != null) {
						System.out.println("warning: this machine cannot measure the target: " + machine.cannotMeasure());
					}
					Result result = benchmark.run(jdkName(jdk), load, mode, launcher, rate, capacities, machine);
					System.out.println(summary(result));
					System.out.println("bins written to " + bins(result, work));
					results.add(result);
				}
			}
		}
		String report = report(results, options);
		Path plot = Path.of(options.getOrDefault("plot", "docs/takeover.png"));
		plot(results, plot);
		Path doc = Path.of(options.getOrDefault("doc", "docs/performance.md"));
		System.out.println();
		System.out.println(report);
		System.out.println("plot written to " + plot);
		if (Files.isWritable(doc)) {
			String text = Files.readString(doc, StandardCharsets.UTF_8);
			int start = text.indexOf(BEGIN);
			int end = text.indexOf(END);
			if (start >= 0 && end > start) {
				String section = BEGIN + "\n" + report.replaceFirst("^# ", "### ") + "\n![p99 latency and throughput around an upgrade]("
						+ doc.toAbsolutePath().getParent().relativize(plot.toAbsolutePath()) + ")\n";
				Files.writeString(doc, text.substring(0, start) + section + text.substring(end), StandardCharsets.UTF_8);
				System.out.println("table written into " + doc);
			}
		}
	}

	/** Writes a run's 100 ms bins and upgrades as CSV, for a closer look than the table's. */
	private static Path bins(Result result, Path work) throws IOException {
		StringBuilder csv = new StringBuilder("ms,answered,p99_ms,max_ms,client_late_p99_ms,event\n");
		for (Bin bin : result.bins()) {
			csv.append(String.format("%d,%d,%.2f,%.2f,%.2f,%n", bin.atMs(), bin.answered(), bin.p99Ms(), bin.maxMs(),
					bin.clientLateP99Ms()));
		}
		for (Upgrade upgrade : result.upgrades()) {
			csv.append(String.format("%d,,,,,trigger %d%n%d,,,,,ready %d%n", upgrade.triggeredMs(), upgrade.oldPid(),
					upgrade.readyMs(), upgrade.newPid()));
		}
		for (Window window : result.steadyWindows()) {
			csv.append(String.format("%d,,,,,steady from%n%d,,,,,steady to%n", window.fromMs(), window.toMs()));
		}
		Path file = work.resolve(result.title().replaceAll("[^A-Za-z0-9]+", "-") + ".csv");
		Files.writeString(file, csv);
		return file;
	}

	/** "JDK 17" for a launcher, from {@code java -version}. */
	private static String jdkName(String java) throws IOException, InterruptedException {
		Process process = new ProcessBuilder(java, "-version").redirectErrorStream(true).start();
		String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
		process.waitFor();
		Matcher version = Pattern.compile("version \"(\\d+)").matcher(output);
		return version.find() ? "JDK " + version.group(1) : java;
	}

	private List<String> command(Mode mode, List<String> launcher, int port, int management, Path directory) {
		List<String> command = new ArrayList<>(launcher);
		command.addAll(List.of("--server.port=" + port, "--management.server.port=" + management,
				"--tableflip.pid-file=" + directory.resolve("app.pid"), "--logging.level.root=warn",
				"--logging.level.dev.tableflip=info"));
		boolean overlap = mode != Mode.PLAIN && mode != Mode.WARMUP;
		boolean warmup = mode != Mode.PLAIN && mode != Mode.OVERLAP;
		if (mode == Mode.NICE || mode == Mode.JIT) {
			command.add("--tableflip.takeover.start-nice=" + this.options.getOrDefault("start-nice", "19"));
		}
		if (mode == Mode.JIT) {
			command.addAll(List.of("--tableflip.warmup.until-jit-idle=true",
					"--tableflip.warmup.max-duration=" + this.options.getOrDefault("max-duration", "40s"),
					"--logging.level.dev.tableflip.spring.boot.warmup=debug"));
		}
		// room for a start at a low priority and a warm-up that waits for the JIT
		command.add("--tableflip.upgrade-timeout=" + this.wait.toSeconds() + "s");
		command.add("--tableflip.takeover.overlap=" + (overlap ? this.options.getOrDefault("overlap", "5s") : "0s"));
		if (warmup) {
			command.addAll(List.of("--tableflip.warmup.requests[0].path=/",
					warmupAmount(this.options.getOrDefault("warmup", "3000")),
					"--tableflip.warmup.concurrency=" + this.options.getOrDefault("warmup-concurrency", "2")));
		}
		return command;
	}

	/** A number of requests ("3000") or a duration ("5s"). */
	private static String warmupAmount(String amount) {
		return amount.matches("\\d+") ? "--tableflip.warmup.count=" + amount : "--tableflip.warmup.duration=" + amount;
	}

	private int connections() {
		return Integer.parseInt(this.options.getOrDefault("connections", "16"));
	}

	/**
	 * Starts the sample, warms it up flat out for 15 s, then measures what wrk (if installed)
	 * and this benchmark's client drive flat out for 10 s each on the same number of
	 * connections, with the CPU each client used.
	 */
	private Capacities capacities(List<String> launcher) throws Exception {
		int port = ApplicationProcesses.freePort();
		int management = ApplicationProcesses.freePort();
		Path directory = Files.createTempDirectory(this.work, "capacity");
		List<Capacity> clients = new ArrayList<>();
		try (ApplicationProcesses processes = new ApplicationProcesses(directory)) {
			processes.start(port, command(Mode.PLAIN, launcher, port, management, directory), directory);
			try (OpenLoopLoad warm = new OpenLoopLoad(ApplicationProcesses.address(port), "/", Double.POSITIVE_INFINITY,
					connections())) {
				Thread.sleep(15_000);
			}
			if (UpgradeBenchmark.wrk()) {
				String output = UpgradeBenchmark.run(List.of("bash", "-c", "wrk -t2 -c" + connections()
						+ " -d10s http://127.0.0.1:" + port + "/ && times"));
				// the last line of "times": the user and system CPU of the shell's children (wrk)
				String[] children = output.strip().lines().reduce((a, b) -> b).orElse("").split("\\s+");
				double cpu = (seconds(children[0]) + seconds(children[1])) / 10;
				clients.add(new Capacity("wrk -t2 -c" + connections(), UpgradeBenchmark.number(output, "Requests/sec:"), cpu));
			}
			long cpuBefore = clientCpuNanos();
			try (OpenLoopLoad flatOut = new OpenLoopLoad(ApplicationProcesses.address(port), "/", Double.POSITIVE_INFINITY,
					connections())) {
				Thread.sleep(10_000);
				clients.add(new Capacity("this benchmark's client, " + connections() + " connections",
						flatOut.answered() / 10.0, (clientCpuNanos() - cpuBefore) / 10e9));
			}
		}
		return new Capacities(clients);
	}

	/** "0m3.030s" in seconds. */
	private static double seconds(String minutesAndSeconds) {
		Matcher time = Pattern.compile("(\\d+)m([\\d.]+)s").matcher(minutesAndSeconds);
		if (!time.matches()) {
			throw new IllegalStateException("not a time of the shell's 'times': " + minutesAndSeconds);
		}
		return Integer.parseInt(time.group(1)) * 60 + Double.parseDouble(time.group(2));
	}

	/** The CPU this JVM (the load client, its sampler and its collector) has used. */
	private static long clientCpuNanos() {
		return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime();
	}

	/**
	 * Starts the sample in this mode and runs the upgrades under the load at {@code rate}; then
	 * starts the same jar cold beside it and measures how long it takes to be ready.
	 */
	private Result run(String jdk, double load, Mode mode, List<String> launcher, double rate, Capacities capacities,
			MachineProbe.Reading machine)
			throws Exception {
		int upgrades = Integer.parseInt(this.options.getOrDefault("upgrades", "5"));
		int port = ApplicationProcesses.freePort();
		int management = ApplicationProcesses.freePort();
		Path directory = Files.createTempDirectory(this.work, mode.name());
		System.out.printf("== %s, %s, offered %.0f requests/s%n", jdk, mode.title, rate);
		try (ApplicationProcesses processes = new ApplicationProcesses(directory)) {
			long current = processes.start(port, command(mode, launcher, port, management, directory), directory);
			List<Bin> bins = new CopyOnWriteArrayList<>();
			List<Upgrade> done = new CopyOnWriteArrayList<>();
			List<Window> windows = new ArrayList<>();
			Histogram steady = new Histogram(3);
			Histogram starting = new Histogram(3);
			Histogram after = new Histogram(3);
			ClientLateness lateness = new ClientLateness(new Histogram(3), new Histogram(3));
			try (OpenLoopLoad warm = new OpenLoopLoad(ApplicationProcesses.address(port), "/", Double.POSITIVE_INFINITY,
					connections())) {
				Thread.sleep(15_000);
			}
			long started = System.nanoTime();
			long cpuBefore = clientCpuNanos();
			OpenLoopLoad offered = new OpenLoopLoad(ApplicationProcesses.address(port), "/", rate, connections());
			Sampler sampler = new Sampler(offered, started, bins);
			long coldStart;
			double clientCpu;
			try {
				sampler.start();
				Thread.sleep(5_000);
				steady.add(steadyWindow(sampler, lateness, started, FIRST_STEADY_MS, windows));
				for (int i = 0; i < upgrades; i++) {
					long old = current;
					sampler.into(starting, lateness.upgrading());
					long triggered = sinceMs(started);
					current = upgrade(management, processes, old, i + 2);
					long ready = sinceMs(started);
					sampler.into(after, lateness.upgrading());
					System.out.printf("upgrade %d: %d -> %d, ready after %d ms%n", i + 1, old, current, ready - triggered);
					processes.track(current);
					done.add(new Upgrade(triggered, ready, old, current));
					Thread.sleep(AFTER_MS);
					sampler.into(null, null);
					processes.awaitGone(old, this.wait);
					Thread.sleep(Math.max(0, ready + STEADY_AFTER_READY_MS - sinceMs(started)));
					awaitSettled(bins, ms(steady, 99), started);
					steady.add(steadyWindow(sampler, lateness, started, NEXT_STEADY_MS, windows));
				}
				processes.output().lines().filter((line) -> line.contains("Warm-up sent")).forEach(System.out::println);
				clientCpu = (clientCpuNanos() - cpuBefore) / (double) (System.nanoTime() - started);
				coldStart = coldStartBeside(mode, launcher, processes);
				System.out.printf("cold start beside the loaded process: ready after %d ms%n", coldStart);
			}
			finally {
				sampler.interrupt();
				sampler.join();
				offered.close();
			}
			return new Result(jdk, load, mode, rate, capacities, List.copyOf(bins), List.copyOf(done), List.copyOf(windows),
					steady, starting, after, lateness, offered.failed(), offered.answered(), offered.firstFailure(), clientCpu,
					coldStart, machine);
		}
	}

	/**
	 * Starts the same command on other ports beside the loaded process, no handoff, and returns
	 * the milliseconds until it is ready (its warm-up included, as in an upgrade); then stops it.
	 */
	private long coldStartBeside(Mode mode, List<String> launcher, ApplicationProcesses processes) throws Exception {
		int port = ApplicationProcesses.freePort();
		int management = ApplicationProcesses.freePort();
		Path directory = Files.createTempDirectory(this.work, "cold");
		List<String> command = new ArrayList<>(command(mode, launcher, port, management, directory));
		command.removeIf((argument) -> argument.startsWith("--tableflip.takeover.start-nice"));
		long started = System.nanoTime();
		long pid = processes.startBeside(command, directory);
		try {
			processes.awaitReady(pid, this.wait);
			return (System.nanoTime() - started) / 1_000_000;
		}
		finally {
			ProcessHandle.of(pid).ifPresent(ProcessHandle::destroy);
			processes.awaitGone(pid, this.wait);
		}
	}

	/** Samples the steady state for {@code ms} into a histogram of its own, which it returns; notes the window. */
	private static Histogram steadyWindow(Sampler sampler, ClientLateness lateness, long started, long ms,
			List<Window> windows) throws InterruptedException {
		Histogram window = new Histogram(3);
		long from = sinceMs(started);
		sampler.into(window, lateness.steady());
		Thread.sleep(ms);
		sampler.into(null, null);
		windows.add(new Window(from, sinceMs(started), ms(window, 99)));
		return window;
	}

	/**
	 * Takes a sample of the load every 100 ms and adds it to the histograms of the current phase:
	 * its latencies, and how late the client woke.
	 */
	private static final class Sampler extends Thread {

		private final OpenLoopLoad load;

		private final long started;

		private final List<Bin> bins;

		/** Guarded by this sampler: a phase's histograms are read once {@link #into} has moved on from it. */
		private Phase phase;

		Sampler(OpenLoopLoad load, long started, List<Bin> bins) {
			super("sampler");
			setDaemon(true);
			this.load = load;
			this.started = started;
			this.bins = bins;
		}

		/**
		 * From now on, into these histograms; {@code null} for none. Returns once a sample that was
		 * being added to the previous phase's histograms is in, so that the caller may read them.
		 */
		synchronized void into(Histogram latency, Histogram lateness) {
			this.phase = (latency != null) ? new Phase(latency, lateness) : null;
		}

		private record Phase(Histogram latency, Histogram lateness) {
		}

		@Override
		public void run() {
			long next = System.nanoTime() + BIN_MS * 1_000_000;
			while (!isInterrupted()) {
				long wait = next - System.nanoTime();
				if (wait > 0) {
					try {
						Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
					}
					catch (InterruptedException ex) {
						break;
					}
				}
				next += BIN_MS * 1_000_000;
				Histogram sample = this.load.sample();
				Histogram late = this.load.sampleLateness();
				synchronized (this) {
					if (this.phase != null) {
						this.phase.latency().add(sample);
						this.phase.lateness().add(late);
					}
				}
				this.bins.add(new Bin(sinceMs(this.started), sample.getTotalCount(),
						sample.getValueAtPercentile(99) / 1000.0, sample.getMaxValue() / 1000.0,
						late.getValueAtPercentile(99) / 1000.0));
			}
		}

	}

	/**
	 * Waits until the load is back to normal, so that each upgrade starts from a steady state:
	 * two seconds of bins with a p99 under twice the steady one (at least 10 ms). At most 60 s.
	 */
	private static void awaitSettled(List<Bin> bins, double steadyP99, long started) throws InterruptedException {
		double limit = Math.max(10, 2 * steadyP99);
		long deadline = sinceMs(started) + 60_000;
		while (sinceMs(started) < deadline) {
			int size = bins.size();
			if (size >= 20 && bins.subList(size - 20, size).stream().allMatch((bin) -> bin.p99Ms() <= limit)) {
				return;
			}
			Thread.sleep(500);
		}
		System.out.println("the load did not settle within 60 s");
	}

	/** Milliseconds from ready until the p99 stays under twice the steady one (at least 10 ms) for 1 s. */
	static long recoveryMs(Result result, Upgrade upgrade) {
		double limit = Math.max(10, 2 * ms(result.steady(), 99));
		List<Bin> after = result.bins().stream().filter((bin) -> bin.atMs() > upgrade.readyMs()).toList();
		int calm = 0;
		for (Bin bin : after) {
			calm = (bin.p99Ms() <= limit) ? calm + 1 : 0;
			if (calm == 10) {
				return Math.max(0, bin.atMs() - 1000 - upgrade.readyMs());
			}
		}
		return -1;
	}

	/**
	 * Upgrades the process {@code old} and returns once the new one is ready, with its pid: by
	 * SIGHUP, watching the log for the new process's "ready" (the default: what systemd's
	 * ExecReload does), or by the endpoint, whose answer says it.
	 */
	private long upgrade(int management, ApplicationProcesses processes, long old, int generation)
			throws IOException, InterruptedException {
		if ("endpoint".equals(this.options.getOrDefault("trigger", "hup"))) {
			HttpRequest request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + management
					+ "/actuator/tableflip/upgrade"))
				.POST(HttpRequest.BodyPublishers.noBody())
				.timeout(this.wait.plusSeconds(30))
				.build();
			HttpResponse<String> response = HttpClient.newHttpClient().send(request, HttpResponse.BodyHandlers.ofString());
			if (response.statusCode() != 200) {
				throw new IllegalStateException("upgrade failed: " + response.body() + "\n" + processes.output());
			}
			return Long.parseLong(response.body().replaceAll(".*\"childPid\":(\\d+).*", "$1"));
		}
		Pattern ready = Pattern.compile("Process (\\d+) is ready \\(generation " + generation + "\\)");
		ApplicationProcesses.signal("HUP", old);
		long deadline = System.nanoTime() + this.wait.toNanos();
		while (System.nanoTime() < deadline) {
			String output = processes.output();
			Matcher matcher = ready.matcher(output);
			if (matcher.find()) {
				return Long.parseLong(matcher.group(1));
			}
			if (output.contains("Upgrade failed")) {
				throw new IllegalStateException("upgrade failed:\n" + output);
			}
			Thread.sleep(20);
		}
		throw new IllegalStateException("no process of generation " + generation + " ready within " + this.wait + "\n"
				+ processes.output());
	}

	private static long sinceMs(long started) {
		return (System.nanoTime() - started) / 1_000_000;
	}

	private static double ms(Histogram histogram, double percentile) {
		return histogram.getValueAtPercentile(percentile) / 1000.0;
	}

	private static String summary(Result result) {
		Histogram upgrading = result.upgrading();
		return String.format("%s: steady p99 %.1f ms (%s in its windows); p99 trigger to ready %.1f ms, 10 s after ready %.1f ms, both %.1f ms "
				+ "(%.1fx steady), max %.0f ms; lowest 1 s throughput %.0f%% of offered; cold start beside %.1f s; "
				+ "client CPU %.2f cores, client late p99 %s ms (steady / upgrading); %d failed of %d%s", result.title(),
				ms(result.steady(), 99),
				windowRange(result), ms(result.starting(), 99), ms(result.after(), 99), ms(upgrading, 99),
				ms(upgrading, 99) / ms(result.steady(), 99), upgrading.getMaxValue() / 1000.0,
				100 * result.minOneSecondShare(), result.coldStartMs() / 1000.0, result.clientCpuCores(),
				result.clientLateness().describe(), result.failed(), result.answered() + result.failed(),
				(result.firstFailure() != null) ? " (first: " + result.firstFailure() + ")" : "");
	}

	/** The lowest and the highest p99 of a run's steady windows, in ms: "1.8-2.6". */
	private static String windowRange(Result result) {
		DoubleSummaryStatistics p99s = result.steadyWindows().stream().mapToDouble(Window::p99Ms).summaryStatistics();
		return String.format("%.1f-%.1f", p99s.getMin(), p99s.getMax());
	}

	private static String report(List<Result> results, Map<String, String> options) {
		StringBuilder report = new StringBuilder("# Takeover benchmark run ").append(Instant.now()).append("\n\n");
		report.append(String.format("%d cores. The sample (Tomcat, GET /) under an open-loop load on %d keep-alive "
				+ "connections (latency counts from when a request was due), at fractions of its warm capacity. "
				+ "The capacity is what a client drove flat out on as many connections after a 15 s warm-up; "
				+ "the first client named sets the rate:%n%n",
				Runtime.getRuntime().availableProcessors(), Integer.parseInt(options.getOrDefault("connections", "16"))));
		results.stream()
			.collect(Collectors.toMap(Result::jdk, Result::capacities, (a, b) -> a, LinkedHashMap::new))
			.forEach((jdk, capacities) -> report.append("- ").append(jdk).append(": ").append(capacities.describe()).append("\n"));
		report.append(String.format("%n%s upgrades per run, triggered by %s. The steady state is measured for %d s "
				+ "before the first upgrade and for %d s after each, from %d s after the new process was ready and "
				+ "once the load is back to normal; its p99 is over all of these windows (in brackets, the lowest and "
				+ "the highest window's). The settings, where a mode's title names them: overlap %s; warm-up: GET /, %s "
				+ "(requests or time), %s at a time (until the JIT is idle: tableflip.warmup.until-jit-idle, at most %s "
				+ "in all); the new process at nice %s until ready (tableflip.takeover.start-nice). *Upgrading* is from each trigger to 10 s after the new process is "
				+ "ready. *Cold start beside*: the same command started on other ports beside the loaded process, no "
				+ "handoff, until ready. *Client CPU*: what the load client's JVM used at the offered rate, in cores. "
				+ "*Client late*: the p99 of how late the client's own thread woke for a due request, in the steady "
				+ "windows / while upgrading: the client shares the CPUs it measures, and this much of a latency may be "
				+ "its own wait for one.%n%n",
				options.getOrDefault("upgrades", "5"),
				"endpoint".equals(options.getOrDefault("trigger", "hup")) ? "POST /actuator/tableflip/upgrade" : "SIGHUP",
				FIRST_STEADY_MS / 1000, NEXT_STEADY_MS / 1000, STEADY_AFTER_READY_MS / 1000,
				options.getOrDefault("overlap", "5s"),
				options.getOrDefault("warmup", "3000"), options.getOrDefault("warmup-concurrency", "2"),
				options.getOrDefault("max-duration", "40s"), options.getOrDefault("start-nice", "19")));
		report.append("| JDK | offered | mode | steady p99 ms | p99 trigger to ready, ms | p99 10 s after ready, ms |"
				+ " p99 upgrading, ms | upgrading / steady | max upgrading, ms | lowest 1 s, % of offered |"
				+ " trigger to ready, median s | cold start beside, s | back to normal after ready, median s |"
				+ " client CPU, cores | client late p99, ms | failed requests |"
				+ "\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
		for (Result result : results) {
			List<Long> handoffs = result.upgrades().stream().map((u) -> u.readyMs() - u.triggeredMs()).sorted().toList();
			List<Long> recoveries = result.upgrades().stream().map((u) -> recoveryMs(result, u)).sorted().toList();
			Histogram upgrading = result.upgrading();
			String offered = (result.load() > 0) ? String.format("%.0f/s (%.0f %%)", result.rate(), 100 * result.load())
					: String.format("%.0f/s", result.rate());
			report.append(String.format("| %s | %s | %s | %.1f (%s) | %.1f | %.1f | %.1f | %.1fx | %.0f | %.0f | %.1f | %.1f | %.1f | %.2f | %s | %d of %d |%n",
					result.jdk(), offered, result.mode().title, ms(result.steady(), 99), windowRange(result),
					ms(result.starting(), 99),
					ms(result.after(), 99), ms(upgrading, 99), ms(upgrading, 99) / ms(result.steady(), 99),
					upgrading.getMaxValue() / 1000.0, 100 * result.minOneSecondShare(),
					handoffs.get(handoffs.size() / 2) / 1000.0, result.coldStartMs() / 1000.0,
					recoveries.get(recoveries.size() / 2) / 1000.0, result.clientCpuCores(),
					result.clientLateness().describe(), result.failed(), result.answered() + result.failed()));
		}
		report.append(String.format("%nThe machine before each run, idle (a latency in milliseconds means little where "
				+ "the host takes the CPUs away or slows them down; see MachineProbe):%n%n"));
		for (Result result : results) {
			report.append(String.format("- %s: %s%n", result.title(), result.machine()));
		}
		results.stream()
			.map((result) -> result.machine().cannotMeasure())
			.filter(Objects::nonNull)
			.findFirst()
			.ifPresent((reason) -> report.append(String.format("%n**This machine cannot measure the target**: %s.%n",
					reason)));
		return report.toString();
	}

	/** Per mode, the median over its upgrades of each 100 ms bin, aligned on the new process's ready. */
	private static void plot(List<Result> results, Path file) throws IOException {
		XYChart latency = new XYChartBuilder().width(1000).height(420)
			.title("p99 latency per 100 ms around an upgrade (median of the upgrades)")
			.xAxisTitle("seconds since the new process is ready")
			.yAxisTitle("p99 ms (log)")
			.build();
		latency.getStyler().setYAxisLogarithmic(true);
		XYChart throughput = new XYChartBuilder().width(1000).height(420)
			.title("throughput per 100 ms, % of the offered rate")
			.xAxisTitle("seconds since the new process is ready")
			.yAxisTitle("% of offered")
			.build();
		for (XYChart chart : List.of(latency, throughput)) {
			chart.getStyler().setDefaultSeriesRenderStyle(XYSeriesRenderStyle.Line);
			chart.getStyler().setMarkerSize(0);
		}
		for (Result result : results) {
			int count = (int) ((PLOT_TO_MS - PLOT_FROM_MS) / BIN_MS);
			double[] x = new double[count];
			double[] p99 = new double[count];
			double[] share = new double[count];
			for (int i = 0; i < count; i++) {
				long offset = PLOT_FROM_MS + i * BIN_MS;
				x[i] = offset / 1000.0;
				List<Bin> aligned = new ArrayList<>();
				for (Upgrade upgrade : result.upgrades()) {
					result.bins().stream()
						.filter((bin) -> bin.atMs() > upgrade.readyMs() + offset
								&& bin.atMs() <= upgrade.readyMs() + offset + BIN_MS)
						.findFirst()
						.ifPresent(aligned::add);
				}
				p99[i] = Math.max(0.1, median(aligned.stream().mapToDouble(Bin::p99Ms).toArray()));
				share[i] = 100 * median(aligned.stream().mapToDouble(Bin::answered).toArray()) / (result.rate() * BIN_MS / 1000.0);
			}
			latency.addSeries(result.title(), x, p99).setMarker(SeriesMarkers.NONE);
			throughput.addSeries(result.title(), x, share).setMarker(SeriesMarkers.NONE);
		}
		Files.createDirectories(file.toAbsolutePath().getParent());
		String name = file.toString().replaceFirst("\\.png$", "");
		BitmapEncoder.saveBitmap(List.of(latency, throughput), 2, 1, name, BitmapFormat.PNG);
	}

	private static double median(double[] values) {
		if (values.length == 0) {
			return 0;
		}
		Arrays.sort(values);
		return values[values.length / 2];
	}

}
