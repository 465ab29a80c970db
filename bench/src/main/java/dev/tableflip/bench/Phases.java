package dev.tableflip.bench;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/**
 * Where the time of one upgrade goes, read from the timestamps of the log lines the old and
 * the new process write (both log to the same output).
 *
 * @param spawned trigger to the new JVM started
 * @param handedOver new JVM started to its upgrader holding the sockets
 * @param ready sockets handed over to the new process ready
 * @param stoppedAccepting new process ready to the old one stopped accepting
 * @param drained old process stopped accepting to its exit, as the benchmark saw it
 */
record Phases(long spawned, long handedOver, long ready, long stoppedAccepting, long drained) {

	static final List<String> NAMES = List.of("signal to new JVM started", "new JVM started to sockets handed over",
			"sockets handed over to new process ready", "new process ready to old stopped accepting",
			"old stopped accepting to old exited (drain)");

	/**
	 * Reads the phases of the upgrade from {@code old} to {@code next}, or null if a line is
	 * missing. The old process's last lines are not logged (Boot stops logging as its context
	 * closes): its exit is when the benchmark saw it gone.
	 */
	static Phases read(String log, long old, long next, Instant exited) {
		Instant trigger = find(log, old, "Upgrade triggered by");
		Instant spawned = find(log, old, "Upgrade: started new process " + next);
		Instant handed = find(log, old, "descriptor(s) to new process " + next);
		Instant ready = find(log, next, "Process " + next + " is ready");
		Instant stopped = find(log, old, "Process " + old + " stopped accepting");
		if (trigger == null || spawned == null || handed == null || ready == null || stopped == null) {
			return null;
		}
		return new Phases(ms(trigger, spawned), ms(spawned, handed), ms(handed, ready), ms(ready, stopped),
				ms(stopped, exited));
	}

	List<Long> values() {
		return List.of(this.spawned, this.handedOver, this.ready, this.stoppedAccepting, this.drained);
	}

	/** The median of each phase over several upgrades. */
	static List<Long> medians(List<Phases> all) {
		List<Long> medians = new ArrayList<>();
		for (int i = 0; i < NAMES.size(); i++) {
			List<Long> values = new ArrayList<>();
			for (Phases phases : all) {
				values.add(phases.values().get(i));
			}
			values.sort(null);
			medians.add(values.isEmpty() ? -1 : values.get(values.size() / 2));
		}
		return medians;
	}

	private static Instant find(String log, long pid, String text) {
		for (String line : log.split("\n")) {
			String[] words = line.trim().split("\\s+");
			if (words.length > 3 && words[2].equals(Long.toString(pid)) && line.contains(text)) {
				try {
					return Instant.parse(words[0]);
				}
				catch (RuntimeException ex) {
					return null;
				}
			}
		}
		return null;
	}

	private static long ms(Instant from, Instant to) {
		return Duration.between(from, to).toMillis();
	}

}
