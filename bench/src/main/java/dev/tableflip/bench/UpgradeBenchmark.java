package dev.tableflip.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.LongPredicate;

import dev.tableflip.testsupport.ApplicationProcesses;
import dev.tableflip.testsupport.HttpLoad;
import org.HdrHistogram.Histogram;

/**
 * Upgrades of the packaged sample under a closed-loop load (keep-alive and fresh connections,
 * every failure and non-2xx answer counted), side by side with what people do without
 * tableflip: a stop-then-start restart, and an overlap of two processes bound with
 * {@code SO_REUSEPORT}. Also the steady-state cost of the adopted sockets and of the starter.
 *
 * <pre>
 * java -jar bench/target/bench.jar [--jar sample-app/target/sample-app.jar] [--upgrades 5]
 *      [--repeat 1] [--out bench/results.md] [--only all|steady|none]
 *      [--java25 /usr/lib/jvm/temurin-25-jdk-amd64/bin/java]</pre>
 * <pre>
 * </pre>
 */
public final class UpgradeBenchmark {

	private static final Duration WAIT = Duration.ofSeconds(120);

	/** Long enough for the JIT: with 5 s, the setup that started later measured up to 10 % lower. */
	private static final Duration STEADY_WARMUP = Duration.ofSeconds(15);

	/** How to start the sample: java, its options, -jar and the jar. */
	private final List<String> launcher;

	private final int upgrades;

	private final Path work;

	private UpgradeBenchmark(List<String> launcher, int upgrades, Path work) {
		this.launcher = launcher;
		this.upgrades = upgrades;
		this.work = work;
	}

	/** How a new version replaces the old one. */
	enum Method {

		TABLEFLIP_TOMCAT("tableflip upgrade (Tomcat)", false),

		TABLEFLIP_NETTY("tableflip upgrade (Reactor Netty, epoll)", true),

		RESTART("stop, then start (Tomcat)", false),

		REUSEPORT("SO_REUSEPORT overlap, then stop old (Reactor Netty)", true);

		final String title;

		final boolean reactive;

		Method(String title, boolean reactive) {
			this.title = title;
			this.reactive = reactive;
		}

	}

	/** What one run of one method measured. */
	record Run(Method method, long keepAliveFailed, long freshFailed, long requests, double upgradeP99Ms,
			double upgradeMaxMs, double steadyP99Ms, List<Long> readyMs, List<Long> goneMs, long coldStartMs,
			List<Phases> phases) {
	}

	public static void main(String[] args) throws Exception {
		if (args.length > 0 && args[0].equals("takeover")) {
			TakeoverBenchmark.main(java.util.Arrays.copyOfRange(args, 1, args.length));
			return;
		}
		if (args.length > 0 && args[0].equals("load")) {
			LoadProbe.main(java.util.Arrays.copyOfRange(args, 1, args.length));
			return;
		}
		if (args.length > 0 && args[0].equals("machine")) {
			MachineProbe.Reading machine = MachineProbe.read();
			System.out.println(machine);
			if (machine.cannotMeasure() != null) {
				System.out.println("This machine cannot measure the takeover target: " + machine.cannotMeasure());
			}
			return;
		}
		Map<String, String> options = Options.parse(args, List.of("jar", "upgrades", "repeat", "out", "only", "java25"),
				"java -jar bench/target/bench.jar [--jar sample-app/target/sample-app.jar] [--upgrades 5] [--repeat 1]\n"
						+ "    [--out bench/results.md] [--only all|steady|none] [--java25 /path/to/temurin-25/bin/java]\n"
						+ "java -jar bench/target/bench.jar takeover --help\njava -jar bench/target/bench.jar load --help\n"
						+ "java -jar bench/target/bench.jar machine");
		Path jar = Path.of(options.getOrDefault("jar", "sample-app/target/sample-app.jar")).toAbsolutePath();
		int upgrades = Integer.parseInt(options.getOrDefault("upgrades", "5"));
		int repeat = Integer.parseInt(options.getOrDefault("repeat", "1"));
		Path out = Path.of(options.getOrDefault("out", "bench/results.md"));
		if (!Files.isReadable(jar)) {
			System.err.println("No sample jar at " + jar + ": build it with ./mvnw -pl sample-app -am package -DskipTests");
			System.exit(2);
		}
		Path work = Files.createTempDirectory("tableflip-bench");
		UpgradeBenchmark benchmark = new UpgradeBenchmark(List.of(java(), "-jar", jar.toString()), upgrades, work);
		StringBuilder report = new StringBuilder();
		report.append("# Benchmark run ").append(Instant.now()).append("\n\n");
		report.append("Java ").append(Runtime.version()).append(", ").append(Runtime.getRuntime().availableProcessors())
			.append(" cores; load: 4 keep-alive + 2 fresh-connection closed-loop clients; ").append(upgrades)
			.append(" replacements per run, ").append(repeat).append(" run(s) per method.\n\n");

		String only = options.getOrDefault("only", "all");
		if (only.equals("all")) {
			List<Run> runs = new ArrayList<>();
			for (int r = 0; r < repeat; r++) {
				for (Method method : Method.values()) {
					Run run = benchmark.replacements(method);
					runs.add(run);
					System.out.println(run);
				}
			}
			report.append(replacementTable(runs));
			report.append("\n").append(phaseTable(runs)).append("\n");
		}
		if (only.equals("all") || only.equals("steady")) {
			report.append(benchmark.steadyState(Math.max(2, repeat)));
		}
		if (options.containsKey("java25")) {
			report.append("\n").append(aotCache(Path.of(options.get("java25")), jar, upgrades, work));
		}
		Files.createDirectories(out.toAbsolutePath().getParent());
		Files.writeString(out, report.toString(), StandardCharsets.UTF_8);
		System.out.println();
		System.out.println(report);
		System.out.println("written to " + out);
	}

	/** Starts the sample, loads it, and replaces it {@link #upgrades} times by one method. */
	Run replacements(Method method) throws Exception {
		int port = ApplicationProcesses.freePort();
		Path directory = Files.createTempDirectory(this.work, method.name());
		Path pidFile = directory.resolve("app.pid");
		try (ApplicationProcesses processes = new ApplicationProcesses(directory)) {
			List<String> command = command(method, port, pidFile);
			long coldStarted = System.nanoTime();
			long current = processes.start(port, command, directory);
			long coldStartMs = millisSince(coldStarted);
			List<Phases> phases = new ArrayList<>();
			List<Long> readyMs = new ArrayList<>();
			List<Long> goneMs = new ArrayList<>();
			Histogram during = new Histogram(3);
			try (HttpLoad load = new HttpLoad(ApplicationProcesses.address(port), "/", 4, 2)) {
				Thread.sleep(3000); // warm-up
				load.latencySinceLastCall();
				Thread.sleep(2000);
				Histogram steady = load.latencySinceLastCall();
				for (int i = 0; i < this.upgrades; i++) {
					long old = current;
					long started = System.nanoTime();
					current = replace(method, processes, port, command, directory, old);
					readyMs.add(millisSince(started));
					processes.awaitGone(old, WAIT);
					goneMs.add(millisSince(started));
					Phases upgrade = Phases.read(processes.output(), old, current, Instant.now());
					if (upgrade != null) {
						phases.add(upgrade);
					}
					Thread.sleep(1000);
					during.add(load.latencySinceLastCall());
					Thread.sleep(2000);
					load.latencySinceLastCall();
				}
				load.close();
				return new Run(method, load.keepAliveFailed(), load.freshFailed(), load.ok() + load.failed(),
						ms(during.getValueAtPercentile(99)), ms(during.getMaxValue()),
						ms(steady.getValueAtPercentile(99)), readyMs, goneMs, coldStartMs, phases);
			}
		}
	}

	private List<String> command(Method method, int port, Path pidFile) throws IOException {
		boolean tableflip = method == Method.TABLEFLIP_TOMCAT || method == Method.TABLEFLIP_NETTY;
		// Without tableflip nothing hands the management port over: run without one.
		int management = tableflip ? ApplicationProcesses.freePort() : -1;
		List<String> command = new ArrayList<>(this.launcher);
		command.addAll(List.of("--server.port=" + port, "--management.server.port=" + management,
				"--tableflip.pid-file=" + pidFile,
				"--logging.level.root=warn", "--logging.level.dev.tableflip=info"));
		if (method.reactive) {
			command.add("--spring.main.web-application-type=reactive");
		}
		if (!tableflip) {
			command.add("--tableflip.enabled=false");
		}
		if (method == Method.REUSEPORT) {
			command.add("--sample.reuse-port=true");
		}
		return command;
	}

	/** Replaces the process {@code old}; returns the new one's pid once it serves. */
	private long replace(Method method, ApplicationProcesses processes, int port, List<String> command,
			Path directory, long old) throws Exception {
		LongPredicate isNew = (pid) -> pid != old;
		switch (method) {
			case TABLEFLIP_TOMCAT, TABLEFLIP_NETTY -> {
				ApplicationProcesses.signal("HUP", old);
				return processes.awaitServedBy(port, isNew, WAIT);
			}
			case RESTART -> {
				ApplicationProcesses.signal("TERM", old);
				processes.awaitGone(old, WAIT);
				return processes.start(port, command, directory);
			}
			case REUSEPORT -> {
				long next = processes.startBeside(command, directory);
				processes.awaitStarted(next, WAIT);
				ApplicationProcesses.signal("TERM", old);
				return next;
			}
		}
		throw new AssertionError(method);
	}

	/**
	 * Throughput and latency of the same app on adopted sockets and on its own, measured in
	 * alternation, so that neither always runs on a warmer or quieter machine.
	 */
	String steadyState(int rounds) throws Exception {
		String[] names = { "tableflip starter on (socket from the upgrader)", "tableflip.enabled=false (Boot binds)" };
		List<List<double[]>> results = List.of(new ArrayList<>(), new ArrayList<>());
		for (int round = 0; round < rounds; round++) {
			for (int i = 0; i < 2; i++) {
				int setup = (round % 2 == 0) ? i : 1 - i;
				results.get(setup).add(steadyRun(setup == 1));
			}
		}
		StringBuilder table = new StringBuilder("## Steady state: adopted sockets vs the app binding its own\n\n");
		table.append(wrk() ? "wrk -t1 -c8 (keep-alive)" : "Java closed-loop client, 8 keep-alive connections (no wrk on the PATH)")
			.append(", Tomcat; each setup ").append(rounds)
			.append(" time(s), in alternation, ").append(STEADY_WARMUP.toSeconds())
			.append(" s warm-up then 10 s measured; median (min-max).\n\n");
		table.append("| setup | requests/s | p50 ms | p99 ms | start to first 200, s |\n|---|---|---|---|---|\n");
		double[] medianThroughput = new double[2];
		for (int i = 0; i < 2; i++) {
			List<double[]> runs = results.get(i);
			medianThroughput[i] = stat(runs, 0)[0];
			table.append(String.format("| %s | %s | %s | %s | %s |%n", names[i], format(stat(runs, 0), "%.0f"),
					format(stat(runs, 1), "%.2f"), format(stat(runs, 2), "%.2f"), format(stat(runs, 3), "%.1f")));
		}
		table.append(String.format("%nThroughput ratio of the medians (adopted / own): %.3f%n",
				medianThroughput[0] / medianThroughput[1]));
		return table.toString();
	}

	/** One steady-state measurement: requests/s, p50 ms, p99 ms, start-up s. */
	private double[] steadyRun(boolean disabled) throws Exception {
		int port = ApplicationProcesses.freePort();
		Path directory = Files.createTempDirectory(this.work, "steady");
		try (ApplicationProcesses processes = new ApplicationProcesses(directory)) {
			List<String> command = new ArrayList<>(this.launcher);
			command.addAll(List.of("--server.port=" + port, "--management.server.port=-1", "--logging.level.root=warn",
					"--logging.level.dev.tableflip=info"));
			if (disabled) {
				command.add("--tableflip.enabled=false");
			}
			long started = System.nanoTime();
			processes.start(port, command, directory);
			double startup = millisSince(started) / 1000.0;
			if (wrk()) {
				String url = "http://127.0.0.1:" + port + "/";
				run(List.of("wrk", "-t1", "-c8", "-d" + STEADY_WARMUP.toSeconds() + "s", url));
				String output = run(List.of("wrk", "-t1", "-c8", "-d10s", "--latency", url));
				return new double[] { number(output, "Requests/sec:"), wrkMillis(output, "50%"),
						wrkMillis(output, "99%"), startup };
			}
			try (HttpLoad load = new HttpLoad(ApplicationProcesses.address(port), "/", 8, 0)) {
				Thread.sleep(STEADY_WARMUP.toMillis());
				load.latencySinceLastCall();
				long before = load.ok();
				Thread.sleep(10_000);
				Histogram measured = load.latencySinceLastCall();
				double throughput = (load.ok() - before) / 10.0;
				return new double[] { throughput, ms(measured.getValueAtPercentile(50)),
						ms(measured.getValueAtPercentile(99)), startup };
			}
		}
	}

	/**
	 * JDK 25's AOT cache: the sample's start as a fat jar, extracted, and extracted with an AOT
	 * cache from a training run; then tableflip upgrades under load without and with the cache
	 * (the new process runs the same command line, so it uses the cache too).
	 */
	static String aotCache(Path java, Path jar, int upgrades, Path work) throws Exception {
		Path directory = Files.createTempDirectory(work, "aot");
		List<String> aot = aotLauncher(java, jar, directory);
		if (aot == null) {
			return "## JDK 25 AOT cache\n\nThe training run produced no cache in " + directory + ".\n";
		}
		Path cache = directory.resolve("app.aot");
		Path thin = directory.resolve("app").resolve(jar.getFileName());
		Map<String, List<String>> launchers = new LinkedHashMap<>();
		launchers.put("fat jar", List.of(java.toString(), "-jar", jar.toString()));
		launchers.put("extracted", List.of(java.toString(), "-jar", thin.toString()));
		launchers.put("extracted + AOT cache", List.of(java.toString(), "-XX:AOTCache=" + cache, "-jar", thin.toString()));
		StringBuilder table = new StringBuilder("## JDK 25: starting the new version faster with the AOT cache\n\n");
		table.append(java).append("; the cache comes from one training run (`-XX:AOTCacheOutput=app.aot ")
			.append("-Dspring.context.exit=onRefresh`) of the extracted jar (`java -Djarmode=tools -jar app.jar extract`).\n\n");
		table.append("| launch | cold start to first 200, median of 3 (ms) | upgrade under load: new serving after, median (ms) |"
				+ " sockets handed over to ready, median (ms) | requests failed |\n|---|---|---|---|---|\n");
		for (Map.Entry<String, List<String>> launcher : launchers.entrySet()) {
			UpgradeBenchmark benchmark = new UpgradeBenchmark(launcher.getValue(), upgrades, work);
			List<Long> starts = new ArrayList<>();
			for (int i = 0; i < 3; i++) {
				starts.add(benchmark.coldStart());
			}
			String upgrade = "";
			if (!launcher.getKey().equals("fat jar")) {
				Run run = benchmark.replacements(Method.TABLEFLIP_TOMCAT);
				System.out.println(launcher.getKey() + ": " + run);
				upgrade = String.format(" %d | %d | %d |", median(run.readyMs()), Phases.medians(run.phases()).get(2),
						run.keepAliveFailed() + run.freshFailed());
			}
			else {
				upgrade = " | | |";
			}
			table.append("| ").append(launcher.getKey()).append(" | ").append(median(starts)).append(" |")
				.append(upgrade).append('\n');
		}
		return table.toString();
	}

	/**
	 * Extracts the jar into {@code directory} and trains an AOT cache on it; the command that
	 * starts the extracted jar with the cache, or {@code null} if training produced none.
	 */
	static List<String> aotLauncher(Path java, Path jar, Path directory) throws Exception {
		Path extracted = directory.resolve("app");
		Path cache = directory.resolve("app.aot");
		run(List.of(java.toString(), "-Djarmode=tools", "-jar", jar.toString(), "extract", "--destination",
				extracted.toString()));
		Path thin = extracted.resolve(jar.getFileName());
		run(List.of(java.toString(), "-XX:AOTCacheOutput=" + cache, "-Dspring.context.exit=onRefresh", "-jar",
				thin.toString(), "--server.port=0", "--management.server.port=-1", "--logging.level.root=warn"));
		return Files.exists(cache) ? List.of(java.toString(), "-XX:AOTCache=" + cache, "-jar", thin.toString()) : null;
	}

	/** Milliseconds from the process's start to its first 200, on an idle machine. */
	long coldStart() throws Exception {
		int port = ApplicationProcesses.freePort();
		Path directory = Files.createTempDirectory(this.work, "cold");
		try (ApplicationProcesses processes = new ApplicationProcesses(directory)) {
			List<String> command = new ArrayList<>(this.launcher);
			command.addAll(List.of("--server.port=" + port, "--management.server.port=-1", "--logging.level.root=warn",
					"--logging.level.dev.tableflip=info"));
			long started = System.nanoTime();
			processes.start(port, command, directory);
			return millisSince(started);
		}
	}

	/** Whether wrk, a load generator outside the JVM, is installed (apt-get install wrk). */
	static boolean wrk() {
		for (String dir : System.getenv().getOrDefault("PATH", "").split(":")) {
			if (Files.isExecutable(Path.of(dir, "wrk"))) {
				return true;
			}
		}
		return false;
	}

	static String run(List<String> command) throws IOException, InterruptedException {
		Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
		String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
		process.waitFor();
		return output;
	}

	static double number(String output, String label) {
		for (String line : output.split("\n")) {
			if (line.trim().startsWith(label)) {
				return Double.parseDouble(line.trim().substring(label.length()).trim());
			}
		}
		throw new IllegalStateException("no '" + label + "' in wrk's output:\n" + output);
	}

	/** A latency percentile line of wrk --latency, in ms ("99%    6.15ms", "us" or "s" units). */
	private static double wrkMillis(String output, String percentile) {
		for (String line : output.split("\n")) {
			String[] words = line.trim().split("\\s+");
			if (words.length == 2 && words[0].equals(percentile)) {
				String value = words[1];
				if (value.endsWith("us")) {
					return Double.parseDouble(value.substring(0, value.length() - 2)) / 1000;
				}
				if (value.endsWith("ms")) {
					return Double.parseDouble(value.substring(0, value.length() - 2));
				}
				return Double.parseDouble(value.substring(0, value.length() - 1)) * 1000;
			}
		}
		throw new IllegalStateException("no " + percentile + " in wrk's output:\n" + output);
	}

	/** Median, min and max of one column. */
	private static double[] stat(List<double[]> runs, int column) {
		double[] values = runs.stream().mapToDouble((run) -> run[column]).sorted().toArray();
		return new double[] { values[values.length / 2], values[0], values[values.length - 1] };
	}

	private static String format(double[] stat, String number) {
		return String.format(number + " (" + number + "-" + number + ")", stat[0], stat[1], stat[2]);
	}

	private static String replacementTable(List<Run> runs) {
		StringBuilder table = new StringBuilder("## Requests failed while replacing the running version\n\n");
		table.append("| method | keep-alive failed | fresh failed | requests | p99 / max ms in upgrade windows | "
				+ "steady p99 ms | new serving after (median ms) | old gone after (median ms) |\n");
		table.append("|---|---|---|---|---|---|---|---|\n");
		for (Run run : runs) {
			table.append(String.format("| %s | %d | %d | %d | %.1f / %.1f | %.1f | %d | %d |%n", run.method().title,
					run.keepAliveFailed(), run.freshFailed(), run.requests(), run.upgradeP99Ms(), run.upgradeMaxMs(),
					run.steadyP99Ms(), median(run.readyMs()), median(run.goneMs())));
		}
		return table.toString();
	}

	private static String phaseTable(List<Run> runs) {
		StringBuilder table = new StringBuilder("## Where an upgrade's time goes (median ms, from the processes' logs)\n\n");
		table.append("| phase |");
		List<Run> tableflip = runs.stream().filter((run) -> !run.phases().isEmpty()).toList();
		for (Run run : tableflip) {
			table.append(' ').append(run.method().title).append(" |");
		}
		table.append("\n|---|").append("---|".repeat(tableflip.size())).append('\n');
		List<List<Long>> medians = tableflip.stream().map((run) -> Phases.medians(run.phases())).toList();
		for (int i = 0; i < Phases.NAMES.size(); i++) {
			table.append("| ").append(Phases.NAMES.get(i)).append(" |");
			for (List<Long> median : medians) {
				table.append(' ').append(median.get(i)).append(" |");
			}
			table.append('\n');
		}
		table.append("| for comparison: cold start of the same app, process start to first 200 (under no load) |");
		for (Run run : tableflip) {
			table.append(' ').append(run.coldStartMs()).append(" |");
		}
		table.append('\n');
		return table.toString();
	}

	private static long median(List<Long> values) {
		List<Long> sorted = new ArrayList<>(values);
		sorted.sort(null);
		return sorted.isEmpty() ? 0 : sorted.get(sorted.size() / 2);
	}

	private static double ms(long micros) {
		return micros / 1000.0;
	}

	private static long millisSince(long nanos) {
		return (System.nanoTime() - nanos) / 1_000_000;
	}

	static String java() {
		return Path.of(System.getProperty("java.home"), "bin", "java").toString();
	}

}
