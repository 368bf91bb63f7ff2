// A prebuilt JupyterLab 4 extension written by hand (no build step, no dependencies): a
// Module Federation container that exposes one plugin. On a double click (or any "open" with
// the default viewer) a .py file under a notebooks/ folder opens in the "Jupytext Notebook"
// viewer, as cells; every other .py file (refacing_lib/, tests/, benchmarks/) keeps JupyterLab's
// text editor. JupyterLab's own setting (docmanager's defaultViewers) can only choose a viewer
// per file type, that is for every .py file at once.
var _JUPYTERLAB = window._JUPYTERLAB = window._JUPYTERLAB || {};
(function () {
  "use strict";
  var COURSE_SOURCE = /(^|[/:])notebooks\/(solutions\/)?[^/]+\.py$/;
  var JUPYTEXT_VIEWER = "Jupytext Notebook";
  var plugin = {
    id: "refacing-course:notebook-sources",
    description: "Open notebooks/*.py as notebooks (jupytext), other .py files as text.",
    autoStart: true,
    requires: [],
    activate: function (app) {
      var registry = app.docRegistry;
      var defaultFactory = registry.defaultWidgetFactory.bind(registry);
      registry.defaultWidgetFactory = function (path) {
        if (path && COURSE_SOURCE.test(path)) {
          var factory = registry.getWidgetFactory(JUPYTEXT_VIEWER);
          if (factory) {
            return factory;
          }
        }
        return defaultFactory(path);
      };
      document.body.dataset.refacingCourse = "active";  // lets the browser tests see it ran
    }
  };
  _JUPYTERLAB["refacing-course"] = {
    init: function () { return Promise.resolve(); },
    get: function (module) {
      if (module !== "./extension") {
        return Promise.reject(new Error("refacing-course exposes ./extension only"));
      }
      return Promise.resolve(function () { return [plugin]; });
    }
  };
})();
