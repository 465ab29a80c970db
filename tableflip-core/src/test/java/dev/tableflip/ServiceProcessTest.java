package dev.tableflip;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;

import dev.tableflip.fixture.ServiceProcesses;
import dev.tableflip.testsupport.ApplicationProcesses;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;

/**
 * What the tests of {@code Service} JVMs share: the processes, started by each test in a
 * directory of its own and all killed after it, and a free TCP address for them to serve on.
 */
abstract class ServiceProcessTest {

	static final Duration WAIT = Duration.ofSeconds(30);

	@TempDir
	Path directory;

	ServiceProcesses services;

	/** A loopback address no process listens on yet: {@code 127.0.0.1:<port>}. */
	String tcp;

	@BeforeEach
	void startHarness() throws IOException {
		this.services = new ServiceProcesses(this.directory);
		this.tcp = "127.0.0.1:" + ApplicationProcesses.freePort();
	}

	@AfterEach
	void killEveryProcess() {
		this.services.close();
	}

}
