package dev.tableflip.bench;

import java.net.InetSocketAddress;
import java.util.List;
import java.util.Map;

import org.HdrHistogram.Histogram;

/**
 * A constant-rate load against a server that is already running, with p50, p99 and the
 * worst latency of each interval printed as it goes and of the whole run at the end: to see
 * what something started beside a loaded server costs its clients (another JVM, a CPU burner,
 * a different CPU priority), without an upgrade. Each line also gives the p99 of how late the
 * client's own thread woke for a due request ({@link OpenLoopLoad#sampleLateness()}): the part of
 * a latency that may be the client's wait for a CPU rather than the server's.
 *
 * <pre>
 * java -jar bench/target/bench.jar load --port 8080 --rate 12000 [--seconds 60] [--interval 5]
 *      [--connections 16] [--path /]</pre>
 */
final class LoadProbe {

	private LoadProbe() {
	}

	public static void main(String[] args) throws Exception {
		String usage = "java -jar bench/target/bench.jar load --port 8080 --rate 12000 [--seconds 60] [--interval 5] "
				+ "[--connections 16] [--path /]";
		Map<String, String> options = Options.parse(args,
				List.of("port", "rate", "seconds", "interval", "connections", "path"), usage);
		if (!options.containsKey("port") || !options.containsKey("rate")) {
			System.err.println("--port and --rate are needed\n" + usage);
			System.exit(2);
		}
		InetSocketAddress address = new InetSocketAddress("127.0.0.1", Integer.parseInt(options.get("port")));
		double rate = Double.parseDouble(options.get("rate"));
		int seconds = Integer.parseInt(options.getOrDefault("seconds", "60"));
		int interval = Integer.parseInt(options.getOrDefault("interval", "5"));
		Histogram all = new Histogram(3);
		Histogram allLate = new Histogram(3);
		long start = System.nanoTime();
		try (OpenLoopLoad load = new OpenLoopLoad(address, options.getOrDefault("path", "/"), rate,
				Integer.parseInt(options.getOrDefault("connections", "16")))) {
			for (int elapsed = interval; elapsed <= seconds; elapsed += interval) {
				long wait = start + elapsed * 1_000_000_000L - System.nanoTime();
				if (wait > 0) {
					Thread.sleep(wait / 1_000_000);
				}
				Histogram sample = load.sample();
				Histogram late = load.sampleLateness();
				all.add(sample);
				allLate.add(late);
				System.out.printf("%4d s  %7.0f/s  p50 %6.2f ms  p99 %7.2f ms  max %8.2f ms  client late p99 %6.2f ms  "
						+ "failed %d%n", elapsed, sample.getTotalCount() / (double) interval,
						sample.getValueAtPercentile(50) / 1000.0, sample.getValueAtPercentile(99) / 1000.0,
						sample.getMaxValue() / 1000.0, late.getValueAtPercentile(99) / 1000.0, load.failed());
			}
			System.out.printf("all   %7.0f/s  p50 %6.2f ms  p99 %7.2f ms  max %8.2f ms  client late p99 %6.2f ms  "
					+ "failed %d of %d%n", all.getTotalCount() / (double) seconds, all.getValueAtPercentile(50) / 1000.0,
					all.getValueAtPercentile(99) / 1000.0, all.getMaxValue() / 1000.0,
					allLate.getValueAtPercentile(99) / 1000.0, load.failed(), load.answered() + load.failed());
		}
	}

}
