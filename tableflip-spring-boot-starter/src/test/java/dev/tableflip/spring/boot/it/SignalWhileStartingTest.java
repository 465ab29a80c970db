package dev.tableflip.spring.boot.it;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import dev.tableflip.testsupport.ApplicationProcesses;
import dev.tableflip.testsupport.HttpLoad;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Upgrade signals that arrive while a process starts, before it is ready: refused, as tableflip
 * refuses an upgrade before ready, instead of the JVM's own handling of the signal, which would
 * shut the process down. One while Spring Boot starts the application, one during its warm-up.
 * The lives upgrade by the same handler once a process is ready.
 */
class SignalWhileStartingTest {

	private static final String REFUSED = "Upgrade refused (NOT_READY)";

	@TempDir
	Path directory;

	@Test
	void signalsWhileTheApplicationStartsAndWarmsUpAreRefusedAndTheProcessBecomesReady() throws Exception {
		try (ApplicationProcesses processes = new ApplicationProcesses(this.directory)) {
			int port = ApplicationProcesses.freePort();
			long pid = processes.startBeside(ApplicationProcesses.command(UpgradableApplication.class, List.of(),
					List.of("--server.port=" + port, "--tableflip.warmup.requests[0].path=/warm",
							"--tableflip.warmup.duration=5s")),
					this.directory);
			awaitLogged(processes, "SIGHUP upgrades process " + pid + " once it is ready; until then it is refused", 1);

			ApplicationProcesses.signal("HUP", pid); // Spring Boot is still starting the application
			awaitLogged(processes, REFUSED, 1);
			awaitLogged(processes, "Takeover step 'warm-up' started", 1);
			ApplicationProcesses.signal("HUP", pid); // during the warm-up: the process life has taken the signal
			awaitLogged(processes, REFUSED + ": this process is not ready yet", 1);

			awaitLogged(processes, "Send SIGHUP to process " + pid + " to upgrade it", 1);
			assertThat(processes.output()).as("the second signal came before ready")
				.containsSubsequence(REFUSED, REFUSED, "Process " + pid + " is ready",
						"Send SIGHUP to process " + pid + " to upgrade it")
				.doesNotContain("Upgrade triggered by signal");
			assertThat(ApplicationProcesses.alive(pid)).as(processes.output()).isTrue();
			assertThat(HttpLoad.pidOf(HttpLoad.get(ApplicationProcesses.address(port), "/"))).isEqualTo(pid);
		}
	}

	/** Waits until the processes' output has {@code times} lines with {@code text}. */
	private static void awaitLogged(ApplicationProcesses processes, String text, int times) throws InterruptedException {
		long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
		while (processes.output().lines().filter((line) -> line.contains(text)).count() < times) {
			assertThat(System.nanoTime()).as(times + " times '" + text + "' within 60 s\n" + processes.output())
				.isLessThan(deadline);
			Thread.sleep(20);
		}
	}

}
