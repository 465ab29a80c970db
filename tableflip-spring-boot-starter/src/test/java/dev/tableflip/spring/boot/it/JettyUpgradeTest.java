package dev.tableflip.spring.boot.it;

import java.io.File;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import org.junit.jupiter.api.Disabled;
import org.junit.jupiter.api.Test;

/**
 * The life of a servlet application on Jetty. The events that are decided apart from the
 * server (a failed refresh, a failing warm-up's or health gate's verdict, a certificate that
 * cannot be read) run with Tomcat, on the same servlet stack.
 *
 * <p>TLS is configured with {@code server.ssl.*} here, with an SSL bundle on the other servers.
 *
 * <p>The application runs as a Jetty application has it: Jetty instead of Tomcat on its class
 * path ({@code tableflip.it.jetty.classpath}, set by the build).
 */
class JettyUpgradeTest extends UpgradeUnderLoadTests {

	private static final String SERVER_INDEPENDENT = "decided apart from the server: TomcatUpgradeTest runs it";

	@Override
	List<String> serverArguments() {
		return List.of("--spring.main.web-application-type=servlet");
	}

	@Override
	boolean http2() {
		return true;
	}

	@Override
	List<String> tlsProperties(Path keyStore) {
		return List.of("server.ssl.key-store=file:" + keyStore, "server.ssl.key-store-password=secret",
				"server.ssl.key-store-type=PKCS12");
	}

	@Override
	List<String> command(List<String> arguments) {
		List<String> command = new ArrayList<>(super.command(arguments));
		int classPath = command.indexOf("-cp") + 1;
		command.set(classPath, withJettyInsteadOfTomcat(command.get(classPath)));
		return command;
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

	@Override
	@Test
	@Disabled(SERVER_INDEPENDENT)
	void newVersionWhoseWarmupFailsLeavesTheOldOneServing() {
	}

	@Override
	@Test
	@Disabled(SERVER_INDEPENDENT)
	void newVersionThatIsNotHealthyLeavesTheOldOneServing() {
	}

	@Override
	@Test
	@Disabled(SERVER_INDEPENDENT)
	void newVersionWhoseCertificateCannotBeReadLeavesTheOldOneServing() {
	}

}
