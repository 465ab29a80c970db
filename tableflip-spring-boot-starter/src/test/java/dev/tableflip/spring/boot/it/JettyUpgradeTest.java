package dev.tableflip.spring.boot.it;

import java.io.File;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import dev.tableflip.testsupport.ApplicationProcesses;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Upgrades of a servlet application on Jetty: the upgrades of {@link UpgradeUnderLoadTests}
 * that depend on the server (handover under load, requests in flight, the overlap, the
 * private listener of the warm-up and the health gate, a second listener on the management
 * port, no connection taken before ready). The rest is the same code on every server and
 * runs with Tomcat and Reactor Netty.
 *
 * <p>The application runs as a Jetty application has it: Jetty instead of Tomcat on its class
 * path ({@code tableflip.it.jetty.classpath}, set by the build).
 */
class JettyUpgradeTest {

	private final JettyServlet jetty = new JettyServlet();

	@BeforeEach
	void prepare(@TempDir Path directory) throws Exception {
		this.jetty.directory = directory;
		this.jetty.prepare();
	}

	@AfterEach
	void killEveryProcess() {
		this.jetty.killEveryProcess();
	}

	@Test
	void threeUpgradesBySignalAndEndpointUnderLoadLoseNoRequest() throws Exception {
		this.jetty.threeUpgradesBySignalAndEndpointUnderLoadLoseNoRequest();
	}

	@Test
	void slowRequestsInFlightOnTheOldProcessComplete() throws Exception {
		this.jetty.slowRequestsInFlightOnTheOldProcessComplete();
	}

	@Test
	void duringTheOverlapBothProcessesAnswerAndAfterItOnlyTheNewOne() throws Exception {
		this.jetty.duringTheOverlapBothProcessesAnswerAndAfterItOnlyTheNewOne();
	}

	@Test
	void warmupRequestsReachOnlyTheNewProcess() throws Exception {
		this.jetty.warmupRequestsReachOnlyTheNewProcess();
	}

	@Test
	void separateManagementPortIsHandedOverTooAndAHealthyNewVersionPassesTheHealthGate() throws Exception {
		this.jetty.separateManagementPortIsHandedOverTooAndAHealthyNewVersionPassesTheHealthGate();
	}

	@Test
	void newVersionThatFailsAfterItsServerStartedTookNoConnectionWithIt() throws Exception {
		this.jetty.newVersionThatFailsAfterItsServerStartedTookNoConnectionWithIt();
	}

	/** The test application on Jetty. */
	static final class JettyServlet extends UpgradeUnderLoadTests {

		@Override
		List<String> serverArguments() {
			return List.of("--spring.main.web-application-type=servlet");
		}

		@Override
		long start(List<String> jvmOptions, List<String> arguments) throws IOException {
			List<String> all = new ArrayList<>(arguments);
			all.add("--server.port=" + this.port);
			List<String> command = new ArrayList<>(
					ApplicationProcesses.command(UpgradableApplication.class, jvmOptions, all));
			int classPath = command.indexOf("-cp") + 1;
			command.set(classPath, withJettyInsteadOfTomcat(command.get(classPath)));
			return this.processes.start(this.port, command, null);
		}

		private static String withJettyInsteadOfTomcat(String classPath) {
			String jetty = System.getProperty("tableflip.it.jetty.classpath", "");
			if (jetty.isBlank() || jetty.startsWith("${")) {
				throw new IllegalStateException("tableflip.it.jetty.classpath is not set: run this test with Maven, "
						+ "which builds the Jetty class path");
			}
			Stream<String> withoutTomcat = Stream.of(classPath.split(File.pathSeparator)).filter((entry) -> {
				String name = Path.of(entry).getFileName().toString();
				return !name.startsWith("tomcat-embed-") && !name.startsWith("spring-boot-tomcat")
						&& !name.startsWith("spring-boot-starter-tomcat");
			});
			return Stream.concat(withoutTomcat, Stream.of(jetty.split(File.pathSeparator)))
				.collect(Collectors.joining(File.pathSeparator));
		}

	}

}
