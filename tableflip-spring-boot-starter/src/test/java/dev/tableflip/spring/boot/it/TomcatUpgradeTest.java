package dev.tableflip.spring.boot.it;

import java.util.List;

/** Upgrades of a servlet application on Tomcat, over HTTPS and HTTP/2. */
class TomcatUpgradeTest extends UpgradeUnderLoadTests {

	@Override
	boolean http2() {
		return true;
	}

	@Override
	List<String> serverArguments() {
		return List.of("--spring.main.web-application-type=servlet");
	}

}
