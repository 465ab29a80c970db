package dev.tableflip.spring.boot.it;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import dev.tableflip.testsupport.ApplicationProcesses;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The start-up failures a user can cause, from a real process, as Spring Boot reports them:
 * "APPLICATION FAILED TO START" with what is wrong and the action to take, and a non-zero exit.
 */
class StartupFailureTest {

	@TempDir
	Path directory;

	@Test
	void missingAddOpensIsExplainedWithTheOptionToAdd() throws Exception {
		List<String> command = new ArrayList<>(
				ApplicationProcesses.command(UpgradableApplication.class, List.of(), List.of("--server.port=0")));
		int option = command.indexOf("--add-opens");
		command.remove(option + 1);
		command.remove(option);
		assertThat(failedStart(command)).contains("java.base/sun.nio.ch is not opened to it")
			.containsPattern("Action:\\s+Add --add-opens java.base/sun.nio.ch=ALL-UNNAMED to the java command line")
			.contains("'Add-Opens: java.base/sun.nio.ch' to the MANIFEST.MF")
			.contains("set tableflip.enabled=false");
	}

	@Test
	void badPropertyIsNamedWithItsRule() throws Exception {
		assertThat(failedStart(ApplicationProcesses.command(UpgradableApplication.class, List.of(),
				List.of("--server.port=0", "--tableflip.drain-grace=2m"))))
			.contains("tableflip.drain-grace")
			.contains("must be zero or positive and shorter than tableflip.exit-timeout (PT1M)")
			.contains("Action:");
	}

	@Test
	void portAnotherProcessHoldsIsExplainedWithSystemdsCase() throws Exception {
		try (ServerSocket taken = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
			int port = taken.getLocalPort();
			assertThat(failedStart(ApplicationProcesses.command(UpgradableApplication.class, List.of(),
					List.of("--server.port=" + port, "--server.address=127.0.0.1"))))
				.contains("Port " + port + " was already in use")
				.containsPattern("Action:\\s+Identify and stop the process that's listening on port " + port)
				.contains("systemctl list-sockets");
		}
	}

	/**
	 * Runs the command, which must fail to start: its output, with Boot's report in it. Started
	 * as the other tests start theirs, so that its temporary files and, should it not exit, the
	 * process itself are cleaned up.
	 */
	private String failedStart(List<String> command) throws Exception {
		try (ApplicationProcesses processes = new ApplicationProcesses(this.directory)) {
			long pid = processes.startBeside(command, this.directory);
			int status = processes.awaitExitStatus(pid, Duration.ofSeconds(60));
			String output = processes.output();
			assertThat(status).as("exit status\n" + output).isNotZero();
			assertThat(output).contains("APPLICATION FAILED TO START").contains("Description:");
			return output;
		}
	}

}
