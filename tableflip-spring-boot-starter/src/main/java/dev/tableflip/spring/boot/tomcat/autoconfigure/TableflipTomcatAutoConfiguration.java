package dev.tableflip.spring.boot.tomcat.autoconfigure;

import dev.tableflip.spring.boot.TableflipUpgrader;
import dev.tableflip.spring.boot.autoconfigure.TableflipAutoConfiguration;
import dev.tableflip.spring.boot.tomcat.TomcatListenerAdoption;
import dev.tableflip.spring.boot.tomcat.TomcatPrivateListener;
import org.apache.catalina.startup.Tomcat;

import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnWebApplication;
import org.springframework.boot.tomcat.TomcatWebServerFactory;
import org.springframework.context.ApplicationContext;
import org.springframework.context.annotation.Bean;

/**
 * Tomcat (servlet or reactive) accepts from the listener tableflip hands over, and opens a
 * private listener for the warm-up.
 */
@AutoConfiguration(after = TableflipAutoConfiguration.class)
@ConditionalOnClass({ Tomcat.class, TomcatWebServerFactory.class })
@ConditionalOnWebApplication
@ConditionalOnBean(TableflipUpgrader.class)
public final class TableflipTomcatAutoConfiguration {

	@Bean
	@ConditionalOnMissingBean
	TomcatListenerAdoption tableflipTomcatListenerAdoption(TableflipUpgrader upgrader) {
		return new TomcatListenerAdoption(upgrader);
	}

	@Bean
	TomcatPrivateListener tableflipTomcatPrivateListener(ApplicationContext context) {
		return new TomcatPrivateListener(context);
	}

}
