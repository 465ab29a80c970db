package dev.tableflip.spring.boot.it;

import java.util.List;

/**
 * Upgrades of a servlet application on Tomcat, over HTTPS and HTTP/2, each new process started
 * at a lower CPU priority until it is ready and each old one exiting at it.
 */
class TomcatUpgradeTest extends UpgradeUnderLoadTests {

	@Override
	boolean http2() {
		return true;
	}

	@Override
	List<String> serverArguments() {
		// every new process starts one notch lower (a notch: the load of these tests keeps the CPU busy)
		return List.of("--spring.main.web-application-type=servlet", "--tableflip.takeover.start-nice=1");
	}

}
