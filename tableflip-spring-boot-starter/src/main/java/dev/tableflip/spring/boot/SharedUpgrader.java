package dev.tableflip.spring.boot;

import java.io.IOException;

import dev.tableflip.Upgrader;
import dev.tableflip.UpgraderOptions;

/**
 * The JVM's one core {@link Upgrader}, shared by every application context in it (a test
 * suite caches several) and stopped when the last one closes.
 */
final class SharedUpgrader {

	private static Upgrader upgrader;

	private static int users;

	private SharedUpgrader() {
	}

	static synchronized Upgrader acquire(UpgraderOptions options) throws IOException {
		if (upgrader == null) {
			upgrader = Upgrader.create(options);
		}
		users++;
		return upgrader;
	}

	static synchronized void release(Upgrader released) {
		if (released != upgrader) {
			return;
		}
		if (--users == 0) {
			upgrader.stop();
			upgrader = null;
		}
	}

}
