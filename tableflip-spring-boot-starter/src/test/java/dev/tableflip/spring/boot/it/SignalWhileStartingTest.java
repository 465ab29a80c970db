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
 * An upgrade signal that arrives while a process warms itself up, before it is ready: refused,
 * as tableflip refuses an upgrade before ready, not the JVM's own handling of the signal, which
 * would shut the process down. The lives upgrade by the same handler once a process is ready.
 */
class SignalWhileStartingTest {

	@TempDir
	Path directory;

	@Test
	void signalDuringTheWarmUpIsRefusedAndTheProcessBecomesReady() throws Exception {
		try (ApplicationProcesses processes = new ApplicationProcesses(this.directory)) {
			int port = ApplicationProcesses.freePort();
			long pid = processes.startBeside(ApplicationProcesses.command(UpgradableApplication.class, List.of(),
					List.of("--server.port=" + port, "--tableflip.warmup.requests[0].path=/warm",
							"--tableflip.warmup.duration=4s")),
					this.directory);
			awaitLogged(processes, "SIGHUP upgrades process " + pid + " once it is ready; until then it is refused");
			assertThat(processes.output()).as("the signal arrives during the warm-up")
				.doesNotContain("Process " + pid + " is ready");

			ApplicationProcesses.signal("HUP", pid);

			processes.awaitReady(pid, Duration.ofSeconds(60));
			assertThat(processes.output()).contains("Upgrade refused (NOT_READY): this process is not ready yet")
				.contains("Send SIGHUP to process " + pid + " to upgrade it")
				.doesNotContain("Upgrade triggered by signal");
			assertThat(ApplicationProcesses.alive(pid)).as(processes.output()).isTrue();
			assertThat(HttpLoad.pidOf(HttpLoad.get(ApplicationProcesses.address(port), "/"))).isEqualTo(pid);
		}
	}

	private static void awaitLogged(ApplicationProcesses processes, String line) throws InterruptedException {
		long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
		while (!processes.output().contains(line)) {
			assertThat(System.nanoTime()).as("'" + line + "' within 60 s\n" + processes.output()).isLessThan(deadline);
			Thread.sleep(20);
		}
	}

}
