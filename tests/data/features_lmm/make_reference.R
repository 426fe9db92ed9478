# Reference values for kronlmm.features' per-feature LMM (tests/test_features_lmm.py).
#
# Reads cells.csv and expression.csv.gz (written by make_data.py) and fits, for every feature,
#   K1: y ~ trt + cls + (1 | subject)
#   K2: y ~ trt + cls + (1 | subject) + (1 | batch)
# by REML and ML with lme4 at tight optimiser tolerances (bobyqa, rhoend = 1e-12), with
# lmerTest's Satterthwaite df and (REML) pbkrtest's Kenward-Roger df, and with FLASHMM
# (when installed, e.g. in a private library: R_LIBS_USER=/work/rlib). Writes
#   lme4_fits.csv      variance components, log-likelihood per feature/model/method
#   lme4_coefs.csv     coefficient tables (estimate, se, Satterthwaite df/t/p, KR se/df/p)
#   lme4_contrast.csv  the contrast cls c - cls b (Satterthwaite and KR)
#   flashmm.csv        FLASHMM's lmmfit on the same data (theta may be negative)
#
#   Rscript tests/data/features_lmm/make_reference.R   (from the repository root)
suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
  library(pbkrtest)
})
args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("^--file=", "", args[grep("^--file=", args)])))

cells <- read.csv(file.path(here, "cells.csv"), stringsAsFactors = TRUE)
Y <- as.matrix(read.csv(gzfile(file.path(here, "expression.csv.gz")), row.names = 1,
                        check.names = FALSE))
stopifnot(identical(colnames(Y), as.character(cells$cell)))

ctrl <- lmerControl(optimizer = "bobyqa",
                    optCtrl = list(rhobeg = 0.2, rhoend = 1e-12, maxfun = 1e6),
                    calc.derivs = FALSE, check.conv.singular = "ignore")
models <- list(K1 = y ~ trt + cls + (1 | subject),
               K2 = y ~ trt + cls + (1 | subject) + (1 | batch))
L_contrast <- c(0, 0, -1, 1)  # clsc - clsb

fits <- list(); coefs <- list(); contrasts <- list()
for (j in seq_len(nrow(Y))) {
  d <- cells
  d$y <- Y[j, ]
  for (model in names(models)) {
    for (reml in c(TRUE, FALSE)) {
      f <- suppressWarnings(lmer(models[[model]], data = d, REML = reml, control = ctrl))
      vc <- as.data.frame(VarCorr(f))
      vcov_of <- function(g) if (g %in% vc$grp) vc$vcov[vc$grp == g] else NA
      method <- if (reml) "REML" else "ML"
      fits[[length(fits) + 1]] <- data.frame(
        feature = rownames(Y)[j], model = model, method = method,
        theta_subject = vcov_of("subject"), theta_batch = vcov_of("batch"),
        sigma2 = vcov_of("Residual"), loglik = as.numeric(logLik(f)),
        min_theta_lme4 = min(getME(f, "theta")))
      sat <- suppressWarnings(summary(f, ddf = "Satterthwaite")$coefficients)
      tab <- data.frame(feature = rownames(Y)[j], model = model, method = method,
                        term = rownames(sat), estimate = sat[, "Estimate"],
                        se = sat[, "Std. Error"], df = sat[, "df"], t = sat[, "t value"],
                        p = sat[, "Pr(>|t|)"], se_kr = NA, df_kr = NA, p_kr = NA)
      con <- suppressWarnings(contest1D(f, L_contrast, ddf = "Satterthwaite"))
      crow <- data.frame(feature = rownames(Y)[j], model = model, method = method,
                         estimate = con$Estimate, se = con[["Std. Error"]], df = con$df,
                         p = con[["Pr(>|t|)"]], se_kr = NA, df_kr = NA, p_kr = NA)
      if (reml) {
        kr <- suppressWarnings(summary(f, ddf = "Kenward-Roger")$coefficients)
        tab$se_kr <- kr[, "Std. Error"]; tab$df_kr <- kr[, "df"]; tab$p_kr <- kr[, "Pr(>|t|)"]
        ckr <- suppressWarnings(contest1D(f, L_contrast, ddf = "Kenward-Roger"))
        crow$se_kr <- ckr[["Std. Error"]]; crow$df_kr <- ckr$df; crow$p_kr <- ckr[["Pr(>|t|)"]]
      }
      coefs[[length(coefs) + 1]] <- tab
      contrasts[[length(contrasts) + 1]] <- crow
    }
  }
}
fmt <- function(x) { x[] <- lapply(x, function(v) if (is.numeric(v)) signif(v, 15) else v); x }
write.csv(fmt(do.call(rbind, fits)), file.path(here, "lme4_fits.csv"), row.names = FALSE)
write.csv(fmt(do.call(rbind, coefs)), file.path(here, "lme4_coefs.csv"), row.names = FALSE)
write.csv(fmt(do.call(rbind, contrasts)), file.path(here, "lme4_contrast.csv"), row.names = FALSE)

# ---- FLASHMM (optional) ---------------------------------------------------------------------
if (requireNamespace("FLASHMM", quietly = TRUE)) {
  X <- model.matrix(~ trt + cls, data = cells)
  Zs <- list(K1 = list(model.matrix(~ 0 + subject, data = cells)),
             K2 = list(model.matrix(~ 0 + subject, data = cells),
                       model.matrix(~ 0 + batch, data = cells)))
  out <- list()
  for (model in names(Zs)) {
    Z <- do.call(cbind, Zs[[model]])
    d <- sapply(Zs[[model]], ncol)
    for (method in c("REML", "ML")) {
      fit <- FLASHMM::lmmfit(Y, X, Z, d = d, method = method)
      th <- fit$theta
      out[[length(out) + 1]] <- data.frame(
        feature = colnames(th), model = model, method = method,
        theta_subject = th[1, ], theta_batch = if (model == "K2") th[2, ] else NA,
        sigma2 = th[nrow(th), ], loglik = fit$logLik, niter = fit$niter,
        max_abs_dlogl = apply(abs(fit$dlogL), 2, max), df = fit$df,
        p_trtB = fit$p["trtB", ])
    }
  }
  write.csv(fmt(do.call(rbind, out)), file.path(here, "flashmm.csv"), row.names = FALSE)
} else {
  message("FLASHMM is not installed: flashmm.csv not written")
}
