package dev.tableflip.spring.boot.it;

import java.util.List;

/** Upgrades of a servlet application on Tomcat. */
class TomcatUpgradeTest extends UpgradeUnderLoadTests {

	@Override
	List<String> serverArguments() {
		return List.of("--spring.main.web-application-type=servlet");
	}

}
