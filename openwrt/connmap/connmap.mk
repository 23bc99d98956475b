# openwrt/connmap/connmap.mk — what the feed's connmap packages share, written once: the
# release (version, where its tarballs are), the maintainer, the project page, the menu place.
# Included by openwrt/connmap/Makefile and openwrt/connmap-geodb/Makefile after PKG_NAME (a
# relative include, as in-tree packages include ../../lang/rust/rust-package.mk); read by
# scripts/package.sh and scripts/release.sh. (luci-app-connmap lives in the luci feed and
# cannot include it: its Makefile names the same release itself.)
CONNMAP_URL:=https://example.invalid/connmap

PKG_VERSION:=0.1.0
PKG_SOURCE:=$(PKG_NAME)-$(PKG_VERSION).tar.gz
PKG_SOURCE_URL:=$(CONNMAP_URL)/releases/download/v$(PKG_VERSION)/
PKG_MAINTAINER:=connmap developers <connmap@example.invalid>

define Package/connmap/Default
  SECTION:=net
  CATEGORY:=Network
  SUBMENU:=Web Servers/Proxies
  URL:=$(CONNMAP_URL)
endef
